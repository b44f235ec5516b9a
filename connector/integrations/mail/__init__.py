"""E-mail to the service desk: parsing, decoding, sender policy, replies, and the IMAP source.

``message`` (bytes → ``ParsedMail``, pure), ``charsets`` and ``html`` (decoding), ``policy``
(who may open tickets, auto-replies, rate limit), ``replies`` (which ticket a reply is about),
``mapping`` (``ParsedMail`` → ``Alert``), ``settings``, ``imap`` (the one module that talks
``imaplib``) and ``source`` (``ImapSource``). ``connector.plugins.imap`` plugs it into the host.
"""
