"""The review gallery as HTML: a responsive grid that never jumps, images full size on click, HTML5 video.

Each tile reserves its space from the stored width and height (CSS
`aspect-ratio`) before a byte of the image arrives. A click on a photo opens
it full size over the page with no JavaScript (a `<details>` element); the
full-size copy is fetched only then. Everything the patient typed is escaped.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from html import escape

from portal_ui.formatting import duration, file_size
from shared.db.statuses import MediaStatus
from shared.encounters.review import MediaItem, MediaUrls

PLACEHOLDER_RATIO = "4 / 3"

STYLE = """
<style>
.mia-grid{display:grid;grid-template-columns:repeat(auto-fill,minmax(min(100%,240px),1fr));gap:16px;align-items:start}
.mia-tile{margin:0;border:1px solid #d8dde0;border-radius:8px;overflow:hidden;background:#fff}
.mia-frame{position:relative;width:100%;background:#e8edee}
.mia-frame img,.mia-frame video{display:block;width:100%;height:100%;object-fit:contain;background:#e8edee}
.mia-zoom,.mia-zoom summary{display:block;width:100%;height:100%}
.mia-zoom summary{list-style:none;cursor:zoom-in}
.mia-zoom summary::-webkit-details-marker{display:none}
.mia-zoom .mia-full{display:none}
.mia-zoom[open] summary{position:fixed;inset:0;z-index:1000010;background:rgba(0,0,0,.9);display:flex;
  align-items:center;justify-content:center;cursor:zoom-out}
.mia-zoom[open] .mia-thumb{display:none}
.mia-zoom[open] .mia-full{display:block;width:auto;height:auto;max-width:96vw;max-height:96vh;object-fit:contain}
.mia-state{display:flex;align-items:center;justify-content:center;text-align:center;padding:12px;
  box-sizing:border-box;color:#425563;font-size:.9rem}
.mia-state.mia-failed{background:#fde8e8;color:#8a1c1c}
.mia-tile figcaption{padding:8px 10px;font-size:.85rem;line-height:1.35;color:#212b32}
.mia-tile figcaption .mia-meta{color:#4c6272}
.mia-tile figcaption q{display:block;margin-top:4px;font-style:italic}
</style>
"""


def aspect_ratio(item: MediaItem) -> str:
    if item.width and item.height:
        return f"{int(item.width)} / {int(item.height)}"
    return PLACEHOLDER_RATIO


def label(item: MediaItem, number: int) -> str:
    return f"{'Video' if item.is_video else 'Photo'} {number}"


def _meta(item: MediaItem) -> str:
    parts = []
    if item.width and item.height:
        parts.append(f"{item.width}×{item.height}")
    if item.is_video and item.duration_seconds is not None:
        parts.append(duration(item.duration_seconds))
    parts.append(file_size(item.original_size))
    return " · ".join(parts)


def _frame(item: MediaItem, urls: MediaUrls | None, name: str) -> str:
    ratio = f"aspect-ratio: {aspect_ratio(item)}"
    if item.status == MediaStatus.FAILED:
        reason = escape(item.failure_reason or "The file could not be prepared for viewing.")
        return f'<div class="mia-frame mia-state mia-failed" style="{ratio}">Could not be shown: {reason}</div>'
    if not item.is_ready or urls is None:
        return (
            f'<div class="mia-frame mia-state" style="{ratio}">Being prepared for viewing… '
            "It appears here when ready; refresh in a minute.</div>"
        )
    size = f'width="{int(item.width or 0)}" height="{int(item.height or 0)}"' if item.width and item.height else ""
    if item.is_video:
        poster = f' poster="{escape(urls.thumbnail)}"' if urls.thumbnail else ""
        return (
            f'<div class="mia-frame" style="{ratio}"><video controls preload="metadata" playsinline {size}{poster}'
            f' aria-label="{escape(name)}"><source src="{escape(urls.display)}" type="video/mp4">'
            "This browser cannot play the video; use Download original.</video></div>"
        )
    thumbnail = escape(urls.thumbnail or urls.display)
    return (
        f'<div class="mia-frame" style="{ratio}"><details class="mia-zoom"><summary title="Show full size">'
        f'<img class="mia-thumb" src="{thumbnail}" alt="{escape(name)}" {size} loading="lazy" decoding="async">'
        f'<img class="mia-full" src="{escape(urls.display)}" alt="{escape(name)} at full size" loading="lazy">'
        "</summary></details></div>"
    )


def tile(item: MediaItem, urls: MediaUrls | None, number: int) -> str:
    name = label(item, number)
    note = f"<q>{escape(item.note)}</q>" if item.note else ""
    return (
        f'<figure class="mia-tile" data-media-id="{escape(item.id)}">{_frame(item, urls, name)}'
        f'<figcaption><strong>{escape(name)}</strong> <span class="mia-meta">{escape(_meta(item))}</span>'
        f"{note}</figcaption></figure>"
    )


def gallery_html(items: Sequence[MediaItem], urls: Mapping[str, MediaUrls]) -> str:
    tiles = "".join(tile(item, urls.get(item.id), number) for number, item in enumerate(items, start=1))
    return f'{STYLE}<div class="mia-grid">{tiles}</div>'
