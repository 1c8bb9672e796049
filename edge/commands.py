"""Commands from the cloud, dispatched to a handler by name.

Adding a command is one line where the agent builds its dispatcher:
`dispatcher.register("set_desired_state", self._set_desired_state)`. Handlers run on the MQTT
link's thread: they must be quick (persist, set a flag) and never block on the network.
A handler's `EdgeError` is logged with the command and does not stop the agent.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from contract.wire import Command
from edge.errors import EdgeError

log = logging.getLogger("edge.commands")

CommandHandler = Callable[[Command], None]


class CommandDispatcher:
    """A registry of handlers by command name."""

    def __init__(self) -> None:
        self._handlers: dict[str, CommandHandler] = {}

    def register(self, name: str, handler: CommandHandler) -> None:
        if name in self._handlers:
            raise ValueError(f"a handler for command {name!r} is already registered")
        self._handlers[name] = handler

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(sorted(self._handlers))

    def dispatch(self, command: Command) -> bool:
        """Run the command's handler; False if none is registered or it failed (both logged)."""
        handler = self._handlers.get(command.name)
        if handler is None:
            log.warning("event=command_unknown name=%s message_id=%s known=%s", command.name,
                        command.message_id, ",".join(self.names))
            return False
        try:
            handler(command)
        except EdgeError as exc:
            log.error("event=command_failed name=%s message_id=%s error=%r", command.name, command.message_id,
                      str(exc))
            return False
        log.info("event=command_done name=%s message_id=%s", command.name, command.message_id)
        return True
