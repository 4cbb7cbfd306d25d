/* The upload page: pick or capture photos and videos, preview them, send each with tus
   (resumable, retried with backoff, resumed after a reload), add a note, remove, then send.
   Every refusal from the service arrives as a sentence for the patient, shown as it is. */
(function () {
  "use strict";

  var page = document.querySelector('main[data-page="upload"]');
  if (!page) return;
  var csrfMeta = document.querySelector('meta[name="csrf-token"]');
  var csrf = csrfMeta ? csrfMeta.getAttribute("content") : "";
  var config = {
    endpoint: page.dataset.endpoint,
    listUrl: page.dataset.listUrl,
    maxImage: Number(page.dataset.maxImage),
    maxVideo: Number(page.dataset.maxVideo),
    maxFiles: Number(page.dataset.maxFiles),
    chunkSize: Number(page.dataset.chunkSize)
  };
  // Waits between retries when the signal drops: quick at first, then once a minute for about a quarter of an hour.
  var RETRY_DELAYS = [0, 1000, 3000, 5000, 10000, 15000, 20000, 30000, 45000, 60000, 60000, 60000, 60000, 60000,
    60000, 60000, 60000, 60000, 60000, 60000];
  var PREVIEWABLE_IMAGES = ["image/jpeg", "image/png", "image/webp", "image/gif"];

  var list = document.getElementById("file-list");
  var template = document.getElementById("file-template");
  var emptyList = document.getElementById("empty-list");
  var sendLink = document.getElementById("send-link");
  var sendHint = document.getElementById("send-hint");
  var pageMessage = document.getElementById("page-message");
  var entries = [];

  if (!window.tus || !window.tus.isSupported) {
    showPageMessage("Your browser cannot send files with this page. Try the latest version of Chrome, Safari, Firefox or Edge.");
    return;
  }

  function formatSize(bytes) {
    var units = [[1073741824, "GB"], [1048576, "MB"], [1024, "KB"]];
    for (var i = 0; i < units.length; i++) {
      if (bytes >= units[i][0] || i === units.length - 1) {
        var value = bytes / units[i][0];
        var text = value >= 10 || i === units.length - 1 ? Math.round(value).toString() : value.toFixed(1).replace(/\.0$/, "");
        return text + " " + units[i][1];
      }
    }
    return bytes + " bytes";
  }

  function showPageMessage(text) {
    pageMessage.textContent = text;
    pageMessage.hidden = !text;
  }

  function kindOf(type) {
    if (type && type.indexOf("video/") === 0) return "video";
    if (type && type.indexOf("image/") === 0) return "image";
    return "";
  }

  function counted() {
    return entries.filter(function (entry) { return entry.state !== "refused"; });
  }

  function updateSendArea() {
    var busy = entries.filter(function (e) { return ["starting", "uploading", "waiting", "removing"].indexOf(e.state) >= 0; });
    var done = entries.filter(function (e) { return e.state === "done"; });
    var blocked = busy.length > 0 || done.length === 0;
    sendLink.setAttribute("aria-disabled", blocked ? "true" : "false");
    sendLink.classList.toggle("disabled", blocked);
    if (busy.length) {
      sendHint.textContent = "Wait until every file says \u201cUploaded\u201d, then send.";
    } else if (!done.length) {
      sendHint.textContent = "Add at least one photo or video to send.";
    } else {
      sendHint.textContent = done.length + (done.length === 1 ? " file is" : " files are") + " ready to send.";
    }
    emptyList.hidden = entries.length > 0;
  }

  sendLink.addEventListener("click", function (event) {
    if (sendLink.getAttribute("aria-disabled") === "true") {
      event.preventDefault();
      sendHint.focus();
    }
  });

  function setState(entry, state, text) {
    entry.state = state;
    entry.card.dataset.state = state;
    entry.status.textContent = text;
    entry.retryButton.hidden = state !== "failed";
    entry.removeButton.disabled = state === "removing";
    updateSendArea();
  }

  function setProgress(entry, sent, total) {
    var percent = total ? Math.floor((sent / total) * 100) : 0;
    entry.progress.value = percent;
    entry.progress.setAttribute("aria-label", "Upload progress " + percent + "%");
    entry.meta.textContent = formatSize(sent) + " of " + formatSize(total);
    return percent;
  }

  function idFromUrl(url) {
    var match = /\/files\/([0-9a-f]{32})/.exec(url || "");
    return match ? match[1] : null;
  }

  function makeCard(name, size, kind) {
    var card = template.content.firstElementChild.cloneNode(true);
    var entry = {
      card: card,
      name: name,
      size: size,
      kind: kind,
      state: "starting",
      id: null,
      url: null,
      upload: null,
      objectUrl: null,
      pendingNote: false,
      preview: card.querySelector(".preview"),
      meta: card.querySelector(".file-meta"),
      progress: card.querySelector(".file-progress"),
      status: card.querySelector(".file-status"),
      note: card.querySelector(".note"),
      noteStatus: card.querySelector(".note-status"),
      retryButton: card.querySelector(".retry"),
      removeButton: card.querySelector(".remove")
    };
    card.querySelector(".file-name").textContent = name;
    entry.meta.textContent = formatSize(size);
    entry.preview.textContent = kind === "video" ? "Video" : kind === "image" ? "Photo" : "File";
    var noteTimer = null;
    entry.note.addEventListener("input", function () {
      window.clearTimeout(noteTimer);
      entry.noteStatus.textContent = "";
      noteTimer = window.setTimeout(function () { saveNote(entry); }, 800);
    });
    entry.note.addEventListener("blur", function () {
      window.clearTimeout(noteTimer);
      saveNote(entry);
    });
    entry.removeButton.addEventListener("click", function () { removeEntry(entry); });
    entry.retryButton.addEventListener("click", function () {
      if (entry.upload) {
        setState(entry, "waiting", "Trying again\u2026");
        entry.upload.start();
      }
    });
    list.appendChild(card);
    entries.push(entry);
    return entry;
  }

  function showPreview(entry, file) {
    var type = file.type || "";
    var element = null;
    entry.objectUrl = URL.createObjectURL(file);
    if (PREVIEWABLE_IMAGES.indexOf(type) >= 0 || type === "image/heic" || type === "image/heif") {
      element = document.createElement("img");
      element.alt = "";
      element.addEventListener("error", function () { element.remove(); entry.preview.textContent = "Photo"; });
    } else if (kindOf(type) === "video") {
      element = document.createElement("video");
      element.muted = true;
      element.playsInline = true;
      element.preload = "metadata";
      element.addEventListener("error", function () { element.remove(); entry.preview.textContent = "Video"; });
    }
    if (element) {
      element.src = entry.objectUrl;
      entry.preview.textContent = "";
      entry.preview.appendChild(element);
    }
  }

  function refusalOf(error) {
    var response = error && error.originalResponse;
    if (!response) return null;
    var status = response.getStatus();
    if (status === 401) {
      return "You have been signed out. Open the link from your care team again, then choose this file again.";
    }
    if (status >= 400 && status < 500 && status !== 409 && status !== 423) {
      var body = (response.getBody() || "").trim();
      return body && body.length < 400 ? body : "This file could not be accepted.";
    }
    return null;
  }

  function clientRefusal(file) {
    var kind = kindOf(file.type);
    if (file.type && !kind) {
      return "This file is not a photo or video. You can send photos (JPEG, PNG, HEIC or WebP) and videos (MOV, MP4 or 3GP).";
    }
    if (file.size === 0) return "This file is empty, so there is nothing to send.";
    if (kind === "image" && file.size > config.maxImage) {
      return "This photo is too big to send (" + formatSize(file.size) + "). The largest photo you can send is " +
        formatSize(config.maxImage) + ".";
    }
    if (file.size > config.maxVideo) {
      return "This video is too big to send (" + formatSize(file.size) + "). The largest video you can send is " +
        formatSize(config.maxVideo) + ". Try recording a shorter clip.";
    }
    if (counted().length >= config.maxFiles) {
      return "You can send up to " + config.maxFiles + " files with this link. Remove one to add another.";
    }
    return null;
  }

  function startUpload(file, entry) {
    var upload = new window.tus.Upload(file, {
      endpoint: config.endpoint,
      chunkSize: config.chunkSize,
      retryDelays: RETRY_DELAYS,
      metadata: { filename: file.name, filetype: file.type || "" },
      headers: { "X-CSRF-Token": csrf },
      storeFingerprintForResuming: true,
      removeFingerprintOnSuccess: true,
      onUploadUrlAvailable: function () {
        entry.url = upload.url;
        entry.id = idFromUrl(upload.url);
        if (entry.pendingNote) saveNote(entry);
      },
      onProgress: function (sent, total) {
        var percent = setProgress(entry, sent, total || entry.size);
        setState(entry, "uploading", "Uploading\u2026 " + percent + "%");
      },
      onShouldRetry: function (error) {
        if (refusalOf(error)) return false;
        setState(entry, "waiting", navigator.onLine === false
          ? "No signal. This file will carry on uploading when you are back online."
          : "The connection dropped. Trying again\u2026");
        return true;
      },
      onError: function (error) {
        var refusal = refusalOf(error);
        if (refusal) {
          entry.meta.textContent = formatSize(entry.size);
          setState(entry, "refused", refusal);
        } else {
          setState(entry, "failed", "We could not send this file yet. Check your signal, then press \u201cTry again\u201d.");
        }
      },
      onSuccess: function () {
        setProgress(entry, entry.size, entry.size);
        entry.meta.textContent = formatSize(entry.size);
        setState(entry, "done", "Uploaded");
        if (entry.pendingNote) saveNote(entry);
      }
    });
    entry.upload = upload;
    setState(entry, "starting", "Starting\u2026");
    return upload.findPreviousUploads().then(function (previous) {
      if (previous.length) upload.resumeFromPreviousUpload(previous[0]);
      upload.start();
    });
  }

  function addFile(file) {
    var refusal = clientRefusal(file);
    if (refusal) {
      var refused = makeCard(file.name, file.size, kindOf(file.type));
      setState(refused, "refused", refusal);
      return;
    }
    var duplicate = entries.filter(function (e) {
      return e.state === "done" && e.name === file.name && e.size === file.size;
    });
    if (duplicate.length) {
      showPageMessage("You have already added \u201c" + file.name + "\u201d.");
      return;
    }
    var probe = new window.tus.Upload(file, { endpoint: config.endpoint });
    probe.findPreviousUploads().then(function (previous) {
      var resumeId = previous.length ? idFromUrl(previous[0].uploadUrl) : null;
      var paused = entries.filter(function (e) { return resumeId && e.id === resumeId && e.state === "paused"; })[0];
      var entry = paused || makeCard(file.name, file.size, kindOf(file.type));
      showPreview(entry, file);
      startUpload(file, entry);
    });
  }

  function pick(event) {
    showPageMessage("");
    Array.prototype.forEach.call(event.target.files || [], addFile);
    event.target.value = "";
  }

  ["pick-library", "pick-photo", "pick-video"].forEach(function (id) {
    var input = document.getElementById(id);
    if (input) input.addEventListener("change", pick);
  });

  function request(method, url, body) {
    var headers = { "X-CSRF-Token": csrf };
    if (url.indexOf("/files/") === 0) headers["Tus-Resumable"] = "1.0.0";
    if (body !== undefined) headers["Content-Type"] = "application/json";
    return fetch(url, {
      method: method,
      headers: headers,
      credentials: "same-origin",
      body: body === undefined ? undefined : JSON.stringify(body)
    });
  }

  function saveNote(entry) {
    if (!entry.id) {
      entry.pendingNote = true;
      entry.noteStatus.textContent = "Your note will be saved when the upload starts.";
      return;
    }
    entry.pendingNote = false;
    var text = entry.note.value;
    if (entry.savedNote === text) return;
    entry.noteStatus.textContent = "Saving note\u2026";
    request("POST", "/api/uploads/" + entry.id + "/note", { note: text })
      .then(function (response) {
        return response.json().then(function (data) {
          if (!response.ok) throw new Error(data.message || "");
          entry.savedNote = text;
          entry.noteStatus.textContent = text ? "Note saved." : "";
        });
      })
      .catch(function (error) {
        entry.noteStatus.textContent = (error && error.message) || "We could not save your note. It will be tried again.";
      });
  }

  function forget(entry) {
    if (entry.objectUrl) URL.revokeObjectURL(entry.objectUrl);
    entry.card.remove();
    entries.splice(entries.indexOf(entry), 1);
    updateSendArea();
  }

  function removeEntry(entry) {
    var previous = entry.state;
    var previousText = entry.status.textContent;
    if (previous === "refused") {
      forget(entry);
      return;
    }
    setState(entry, "removing", "Removing\u2026");
    var finished = previous === "done" || previous === "paused" || previous === "remote";
    var work;
    if (entry.upload && !finished) {
      work = entry.upload.abort(Boolean(entry.url));
    } else if (entry.url) {
      work = request("DELETE", entry.url).then(function (response) {
        if (!response.ok && response.status !== 404) {
          return response.text().then(function (text) { throw new Error(text); });
        }
      });
    } else {
      work = Promise.resolve();
    }
    work.then(function () { forget(entry); }).catch(function (error) {
      setState(entry, previous, (error && error.message) || previousText);
      entry.noteStatus.textContent = "We could not remove this file. Check your signal and try again.";
    });
  }

  function showRemote(item) {
    var entry = makeCard(item.filename, item.size, item.kind || "");
    entry.id = item.id;
    entry.url = item.url;
    entry.note.value = item.note || "";
    entry.savedNote = item.note || "";
    if (item.status === "complete") {
      setProgress(entry, item.size, item.size);
      entry.meta.textContent = formatSize(item.size);
      setState(entry, "done", "Uploaded");
    } else if (item.mine) {
      var percent = setProgress(entry, item.offset, item.size);
      setState(entry, "paused", "Paused at " + percent + "%. Choose this file again to finish uploading it.");
    } else {
      setProgress(entry, item.offset, item.size);
      setState(entry, "remote", "Being added from another device.");
    }
    if (!item.mine) {
      entry.removeButton.hidden = true;
      entry.note.disabled = true;
    }
  }

  fetch(config.listUrl, { credentials: "same-origin" })
    .then(function (response) {
      if (response.status === 401) throw new Error("signed-out");
      return response.json();
    })
    .then(function (data) { (data.uploads || []).forEach(showRemote); updateSendArea(); })
    .catch(function (error) {
      if (error && error.message === "signed-out") {
        showPageMessage("You have been signed out. Open the link from your care team again to carry on.");
      }
      updateSendArea();
    });

  window.addEventListener("online", function () {
    entries.forEach(function (entry) {
      if ((entry.state === "failed" || entry.state === "waiting") && entry.upload) {
        entry.upload.abort(false).then(function () { entry.upload.start(); });
      }
    });
  });

  window.addEventListener("beforeunload", function (event) {
    var busy = entries.some(function (e) { return e.state === "uploading" || e.state === "starting"; });
    if (busy) {
      event.preventDefault();
      event.returnValue = "";
    }
  });

  updateSendArea();
})();
