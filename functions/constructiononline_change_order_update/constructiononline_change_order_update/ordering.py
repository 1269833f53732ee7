"""What a ConstructionOnline update edits: one change order (by connection and ID), the coInfo properties it sets."""

from __future__ import annotations

from collections.abc import Sequence

from connectors.models.constructiononline import ChangeOrderUpdateCommand, CoInfo
from connectors.order import Edit


class ChangeOrderEdits:
    """The ``Ordering`` of ConstructionOnline updates: coInfo is partial, so each property is ordered on its own."""

    def edits(self, command: ChangeOrderUpdateCommand) -> list[Edit]:
        """The one change order ``command`` edits, with the properties its coInfo sets."""
        return [Edit(f"{command.connection}#{command.id}", frozenset(command.coInfo.wire()))]

    def narrow(
        self, command: ChangeOrderUpdateCommand, keep: Sequence[frozenset[str]]
    ) -> ChangeOrderUpdateCommand | None:
        """``command`` with only the kept properties; None when no property is left."""
        [kept] = keep
        if not kept:
            return None
        if kept == frozenset(command.coInfo.wire()):
            return command
        properties = {name: value for name, value in command.coInfo.wire().items() if name in kept}
        return command.model_copy(update={"coInfo": CoInfo.model_validate(properties)})
