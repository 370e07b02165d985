"""Gunicorn's settings for the web process (the Procfile passes `-c python:outreach.gunicorn_config`)."""
from outreach import process


def post_worker_init(worker) -> None:
    """Each web worker has loaded the app: the same garbage-collector settings as the CLI and the jobs, so an
    uploaded calendar imports as fast in a page as from the command line."""
    process.settle_after_start()
