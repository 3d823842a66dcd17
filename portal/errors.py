"""Domain errors raised by services. Views turn them into form errors or flashed messages."""


class PortalError(Exception):
    """A rule of the product said no. `field` names the form field the message belongs beside."""

    def __init__(self, message: str, *, field: str | None = None):
        super().__init__(message)
        self.message = message
        self.field = field


class NotAllowed(PortalError):
    """The user may not do this to this object."""


class NotFound(PortalError):
    pass


class InvalidState(PortalError):
    """The object is not in a state where this action makes sense (already verified, already used...)."""


class ValidationFailed(PortalError):
    pass


class StaleEdit(PortalError):
    """Someone else saved this object since it was loaded; the edit was not applied."""
