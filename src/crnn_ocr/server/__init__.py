"""The HTTP service: FastAPI app, JSON schemas, routes and the web page (``static/``).

Needs the ``serve`` extra (fastapi, uvicorn, python-multipart, pydantic-settings).
"""

from crnn_ocr.server.app import create_app
from crnn_ocr.server.settings import ServerSettings

__all__ = ["ServerSettings", "create_app"]
