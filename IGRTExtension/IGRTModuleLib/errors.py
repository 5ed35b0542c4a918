"""The errors a module shows to its user, and how: a dialog in the application, raised when headless.

Only refusals the user can act on are shown (``SHOWN``): bad input (``IGRTInputError``) and a match
that ran but cannot be trusted (``MatchFailedError``). Anything else is a bug and propagates.
"""

import logging

import slicer

from igrt.errors import IGRTInputError
from igrt.registration.match import MatchFailedError
from IGRTModuleLib.base import IN_SLICER_APP

#: Exceptions whose message is meant for the user (one clear line).
SHOWN = (IGRTInputError, MatchFailedError)


def showError(exc: Exception, title: str) -> None:
    """Inside Slicer: an error dialog with the message. Headless (slicer-core): log it and raise it."""
    logging.error(f"{title}: {exc}")
    if not IN_SLICER_APP:
        raise exc
    slicer.util.errorDisplay(str(exc), windowTitle=title)


def guarded(title: str, function, *args, **kwargs):
    """``function(*args, **kwargs)``; a refusal in ``SHOWN`` is shown (:func:`showError`) and gives None."""
    try:
        return function(*args, **kwargs)
    except SHOWN as exc:
        showError(exc, title)
        return None
