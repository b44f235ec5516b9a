"""Notices: who is told what, through which channel, when a ticket needs attention.

Modules, each with one job (import from them directly; this package re-exports nothing so that
``connector.contracts.hookspecs`` can import ``interfaces`` without pulling in the rest):

* ``interfaces`` — ``NotifierType``, the ``Notifier`` protocol, ``OutgoingMessage``, ``Recipient``
* ``notice`` — ``Notice``, the JSON-serialisable content of one notice (it waits in the outbox)
* ``people`` — ``people.yaml`` (roles, people, assignment groups) and the ``Directory``
* ``rules`` — ``escalation.yaml`` and ``notifications.yaml``: the ladder, timed and status notices
* ``render`` — jinja2 templates (zh/en; text, HTML, markdown, SMS) with escaping per format
* ``settings`` — the ``notify`` config section: channels, people file, templates, language
* ``dispatch`` — ``plan`` (who gets a notice on which channel) and ``send_notice``
* ``http``, ``smtp``, ``webhook``, ``wecom``, ``dingtalk`` — the built-in notifiers
"""
