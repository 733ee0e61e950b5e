"""Django's ASGI handler, reading a request body sent without Content-Length.

A body sent with `Transfer-Encoding: chunked` reaches Django with no CONTENT_LENGTH, and DRF then
reads no body at all (the request looks empty, 400), while Django's size limit (413) needs the
length too. Django has read the whole body into a file by then, so its size is the length.
"""

import os

from django.core.handlers.asgi import ASGIHandler


class ChunkedBodyASGIHandler(ASGIHandler):
    def create_request(self, scope, body_file):
        request, error_response = super().create_request(scope, body_file)
        if request is not None and not request.META.get("CONTENT_LENGTH"):
            size = body_file.seek(0, os.SEEK_END)
            body_file.seek(0)
            if size:
                request.META["CONTENT_LENGTH"] = str(size)
        return request, error_response
