from django.http import HttpRequest, JsonResponse
from django.views.decorators.http import require_GET

from annotation.selectors.health import health_report


@require_GET
def healthz(request: HttpRequest) -> JsonResponse:
    """Database, broker and worker status as JSON; 503 when any is down."""
    healthy, report = health_report()
    return JsonResponse(report, status=200 if healthy else 503)
