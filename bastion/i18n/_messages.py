"""Messages the framework shows that no single call site spells out: the titles of
problem+json documents (``HTTPStatus`` phrases, translated by ``HTTPError.problem``) and the
details the core writes in English only.

Listed here only so that ``bastion i18n extract`` puts them in the framework's catalog.
"""

from bastion.i18n._context import N_

STATUS_TITLES = (
    N_("Bad Request"),  # 400
    N_("Unauthorized"),  # 401
    N_("Payment Required"),  # 402
    N_("Forbidden"),  # 403
    N_("Not Found"),  # 404
    N_("Method Not Allowed"),  # 405
    N_("Not Acceptable"),  # 406
    N_("Proxy Authentication Required"),  # 407
    N_("Request Timeout"),  # 408
    N_("Conflict"),  # 409
    N_("Gone"),  # 410
    N_("Length Required"),  # 411
    N_("Precondition Failed"),  # 412
    N_("Request Entity Too Large"),  # 413
    N_("Request-URI Too Long"),  # 414
    N_("Unsupported Media Type"),  # 415
    N_("Requested Range Not Satisfiable"),  # 416
    N_("Expectation Failed"),  # 417
    N_("I'm a Teapot"),  # 418
    N_("Misdirected Request"),  # 421
    N_("Unprocessable Entity"),  # 422
    N_("Locked"),  # 423
    N_("Failed Dependency"),  # 424
    N_("Too Early"),  # 425
    N_("Upgrade Required"),  # 426
    N_("Precondition Required"),  # 428
    N_("Too Many Requests"),  # 429
    N_("Request Header Fields Too Large"),  # 431
    N_("Unavailable For Legal Reasons"),  # 451
    N_("Internal Server Error"),  # 500
    N_("Not Implemented"),  # 501
    N_("Bad Gateway"),  # 502
    N_("Service Unavailable"),  # 503
    N_("Gateway Timeout"),  # 504
    N_("HTTP Version Not Supported"),  # 505
    N_("Variant Also Negotiates"),  # 506
    N_("Insufficient Storage"),  # 507
    N_("Loop Detected"),  # 508
    N_("Not Extended"),  # 510
    N_("Network Authentication Required"),  # 511
    N_("Content Too Large"),  # 413 (Python 3.13)
    N_("Range Not Satisfiable"),  # 416 (Python 3.13)
    N_("Unprocessable Content"),  # 422 (Python 3.13)
)

#: The detail of the app's answer to a path no route matches (``bastion.app``).
NO_ROUTE = N_("No route matches the requested path")
