"""The API's OpenAPI registry: every blueprint registers its operations here."""

from app.openapi import ApiSpec

spec = ApiSpec(title="legato", version="0.1.0")
