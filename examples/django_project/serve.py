"""Serve the example project on 127.0.0.1: ``python serve.py waitress|uvicorn PORT``.

Creates the SQLite database (``NOTES_DB``, default notes.sqlite3 here) and a user allowed to
change notes (``NOTES_USER``, default ``demo:demo``) when missing, then serves the project
with waitress (WSGI: notes_site.wsgi) or uvicorn (ASGI: notes_site.asgi).  In production run
``manage.py migrate`` and ``manage.py createsuperuser`` once, and the server of your choice.
"""
import os
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "notes_site.settings")


def prepare() -> None:
    import django

    django.setup()
    from django.contrib.auth import get_user_model
    from django.contrib.auth.models import Permission
    from django.core.management import call_command

    call_command("migrate", verbosity=0, interactive=False)
    name, _, password = os.environ.get("NOTES_USER", "demo:demo").partition(":")
    users = get_user_model()._default_manager
    if not users.filter(username=name).exists():
        user = users.create_user(name, password=password)
        user.user_permissions.add(Permission.objects.get(codename="change_note"))


def main() -> None:
    if len(sys.argv) != 3 or sys.argv[1] not in ("waitress", "uvicorn"):
        raise SystemExit(__doc__)
    server, port = sys.argv[1], int(sys.argv[2])
    prepare()
    if server == "waitress":
        import waitress
        from notes_site.wsgi import application

        waitress.serve(application, host="127.0.0.1", port=port, threads=8)
    else:
        import uvicorn

        uvicorn.run("notes_site.asgi:application", host="127.0.0.1", port=port,
                    log_level="warning", lifespan="on")


if __name__ == "__main__":
    main()
