"""Running the app: the embedded server and the periodic work."""
import click
from flask import current_app
from flask.cli import with_appcontext

from outreach import jobs, tasks


def register(cli: click.Group) -> None:
    cli.add_command(serve)
    cli.add_command(tick)


@click.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=5000, show_default=True)
@with_appcontext
def serve(host: str, port: int) -> None:
    """Run the app with its periodic work on a thread (the embedded default)."""
    app = current_app._get_current_object()
    if app.config["RUN_PERIODIC_THREAD"]:
        jobs.start_periodic_thread(app, tasks.tick)
    from werkzeug.serving import run_simple

    run_simple(host, port, app, threaded=True, use_reloader=False)


@click.command("tick")
@with_appcontext
def tick() -> None:
    """Do whatever periodic work is due now (what the scheduler runs every minute)."""
    tasks.tick()
