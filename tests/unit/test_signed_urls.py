from urllib.parse import parse_qsl, unquote, urlsplit

from shared.storage.signed_urls import MEDIA_PATH, UrlSigner, content_disposition

signer = UrlSigner(b"s" * 32, "http://localhost:8080/")


def split(url: str) -> tuple[str, dict[str, str]]:
    parts = urlsplit(url)
    assert parts.path.startswith(MEDIA_PATH)
    return unquote(parts.path[len(MEDIA_PATH) :]), dict(parse_qsl(parts.query))


def test_signed_url_verifies_until_it_expires() -> None:
    url = signer.sign("derived/e1/m1/display.jpg", 300, now=1_000_000)
    assert url.startswith("http://localhost:8080/media/derived/e1/m1/display.jpg?")
    key, query = split(url)
    assert signer.verify(key, query, now=1_000_299) is not None
    assert signer.verify(key, query, now=1_000_301) is None


def test_download_name_and_type_are_signed() -> None:
    key, query = split(signer.sign("uploads/e1/u1/original", 60, "rash.jpg", "image/jpeg", now=0))
    request = signer.verify(key, query, now=1)
    assert request is not None and request.download_name == "rash.jpg" and request.content_type == "image/jpeg"
    for field, value in (("dl", "other.exe"), ("ct", "text/html"), ("expires", "99999999999")):
        assert signer.verify(key, {**query, field: value}, now=1) is None


def test_other_key_or_signer_is_refused() -> None:
    key, query = split(signer.sign("derived/e1/m1/display.jpg", 60, now=0))
    assert signer.verify("derived/e2/m1/display.jpg", query, now=1) is None
    assert UrlSigner(b"t" * 32, "http://x").verify(key, query, now=1) is None
    assert signer.verify(key, {"expires": "soon", "sig": query["sig"]}, now=1) is None


def test_download_names_cannot_break_the_header() -> None:
    assert content_disposition(None) == "inline"
    header = content_disposition('my "rash"\r\nSet-Cookie: x=1 – día.jpg')
    assert "\r" not in header and "\n" not in header
    assert header.startswith("attachment; filename=\"my 'rash'__Set-Cookie: x=1 _ d_a.jpg\";")
    assert "filename*=UTF-8''my%20%22rash%22%0D%0ASet-Cookie" in header


def test_an_expiry_in_other_digits_is_refused() -> None:
    key, query = split(signer.sign("derived/e1/m1/display.jpg", 300, now=1_000_000))
    arabic = query["expires"].translate({ord("0") + n: 0x0660 + n for n in range(10)})
    for expires in (arabic, f" {query['expires']}", f"+{query['expires']}", "9" * 40):
        assert signer.verify(key, {**query, "expires": expires}, now=1_000_001) is None
