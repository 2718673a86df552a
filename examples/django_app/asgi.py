import os

from django.core.asgi import get_asgi_application

from erp_professional import integrate

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "examples.django_app.settings")
professional = integrate(get_asgi_application(), service__name="django-example")
application = professional
