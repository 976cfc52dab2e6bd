"""The public media route `/media/<name>`: the library's images as emails load them, cached
for a year (a name's bytes never change), with their content type and no sniffing."""

from __future__ import annotations

from django.http import FileResponse, Http404, HttpRequest, HttpResponse, StreamingHttpResponse
from django.views.decorators.http import require_safe

from .models import MediaFile
from .storage import CACHE_CONTROL, NAME_RE, LocalStore, MissingFile, get_store


@require_safe
def serve_media(request: HttpRequest, name: str) -> HttpResponse:
    if not NAME_RE.match(name):  # also keeps "..", "/" and encoded separators out
        raise Http404("No such media file.")
    media = MediaFile.objects.filter(name=name).only("name", "content_type").first()
    if media is None:
        raise Http404("No such media file.")
    store = get_store()
    try:
        if isinstance(store, LocalStore):
            response: HttpResponse = FileResponse(
                store.path(name).open("rb"), content_type=media.content_type
            )
        else:
            chunks, length = store.stream(name)
            response = StreamingHttpResponse(chunks, content_type=media.content_type)
            response["Content-Length"] = str(length)
    except MissingFile:
        raise Http404("No such media file.")
    response["Cache-Control"] = CACHE_CONTROL
    response["X-Content-Type-Options"] = "nosniff"
    response["Content-Disposition"] = "inline"
    return response
