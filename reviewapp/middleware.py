"""Security headers Django 5.2 does not set by itself."""

from django.utils.cache import patch_cache_control

# No inline script or style anywhere: htmx and the app's own JS come from static/, and
# untrusted outputs are sanitised HTML without script, style or event attributes.
CONTENT_SECURITY_POLICY = "; ".join(
    [
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",
        "font-src 'self'",
        "connect-src 'self'",
        "object-src 'none'",
        "base-uri 'none'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    ]
)


def security_headers(get_response):
    def middleware(request):
        response = get_response(request)
        response.headers.setdefault("Content-Security-Policy", CONTENT_SECURITY_POLICY)
        response.headers.setdefault(
            "Permissions-Policy", "camera=(), microphone=(), geolocation=(), payment=()"
        )
        if "Cache-Control" not in response.headers:
            # Pages and downloads show one person's data (outputs, judgments, results):
            # neither a shared cache nor the browser's history keeps them. Static files
            # come with whitenoise's own Cache-Control and keep it.
            patch_cache_control(response, private=True, no_store=True)
        return response

    return middleware
