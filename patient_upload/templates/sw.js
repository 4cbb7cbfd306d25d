/* MIA patient upload service worker: keeps the page shell for offline use, and nothing else.
   Pages, uploads (/files/), the API and media always go to the network and are never stored here. */
"use strict";
const CACHE_NAME = __CACHE_NAME__;
const SHELL_URLS = __SHELL_URLS__;
const SHELL = new Set(SHELL_URLS);

self.addEventListener("install", (event) => {
  event.waitUntil(
    caches.open(CACHE_NAME).then((cache) => cache.addAll(SHELL_URLS)).then(() => self.skipWaiting())
  );
});

self.addEventListener("activate", (event) => {
  event.waitUntil(
    caches.keys()
      .then((names) => Promise.all(
        names.filter((name) => name.startsWith("mia-shell-") && name !== CACHE_NAME).map((name) => caches.delete(name))
      ))
      .then(() => self.clients.claim())
  );
});

self.addEventListener("fetch", (event) => {
  const request = event.request;
  if (request.method !== "GET") return;
  const url = new URL(request.url);
  if (url.origin !== self.location.origin) return;
  if (SHELL.has(url.pathname + url.search)) {
    event.respondWith(caches.match(request).then((cached) => cached || fetch(request)));
    return;
  }
  if (request.mode === "navigate") {
    // never cached: a page holds personal details; offline, show the stored offline page instead
    event.respondWith(fetch(request).catch(() => caches.match("/offline")));
  }
});
