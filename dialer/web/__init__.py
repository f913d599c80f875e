"""The people's web layer (issue 12): login, sessions, CSRF, the Principal, and the
JSON API under /api/v1, mounted into the worker's Starlette app (dialer/http.py).

Seams for pages built on top (agent desktop, supervisor console):

* ``dialer.web.auth.page_principal(request)`` -> Principal (or a redirect to /login),
  ``require_role`` for role checks, ``csrf_token(request)`` for forms/JS;
* ``dialer.web.app.WebContext`` (``request.app.state.web``): store, people role,
  config, clock, a dispatcher for dispositions, the notifier;
* ``WebContext.publish(topic, data)`` / ``ctx.notifier.subscribe(topics)``: page events
  (presence, pauses, dispositions), across workers through the store (LISTEN/NOTIFY).
"""
