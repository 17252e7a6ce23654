from django.apps import AppConfig


class ParlaysConfig(AppConfig):
    name = "parlays"
    verbose_name = "ProphetX parlays"
