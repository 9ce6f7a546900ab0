from common.settings import get_settings
from common.web import create_base_app


def create_app(settings=None):
    settings = settings or get_settings()
    return create_base_app("order-service", settings)
