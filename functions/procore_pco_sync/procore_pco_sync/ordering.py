"""What a Procore sync command edits: one PCO per update (by company and origin_id or id), the attributes it sets."""

from __future__ import annotations

from collections.abc import Sequence

from connectors.models.procore import PcoSyncCommand, PcoUpdate
from connectors.order import Edit


class PcoEdits:
    """The ``Ordering`` of PCO updates: Procore changes only the attributes given, so each is ordered on its own."""

    def edits(self, command: PcoSyncCommand) -> list[Edit]:
        """One edit per update: its PCO, and the attributes it sets (the key alone for an update that sets none)."""
        return [
            Edit(f"{command.connection}#{command.company_id}#{kind}:{value}", _attributes(update))
            for update in command.updates
            for kind, value in [update.key]
        ]

    def narrow(self, command: PcoSyncCommand, keep: Sequence[frozenset[str]]) -> PcoSyncCommand | None:
        """``command`` with each update cut to its kept attributes (plus its key); None when no update is left."""
        updates = []
        for update, kept in zip(command.updates, keep, strict=True):
            if kept == _attributes(update):
                updates.append(update)
            elif kept:
                key_field = update.key[0]
                given = update.model_dump(exclude_unset=True)
                updates.append(
                    PcoUpdate.model_validate({n: v for n, v in given.items() if n in kept or n == key_field})
                )
        if not updates:
            return None
        if len(updates) == len(command.updates) and all(a is b for a, b in zip(updates, command.updates, strict=True)):
            return command
        return command.model_copy(update={"updates": updates})


def _attributes(update: PcoUpdate) -> frozenset[str]:
    # The key says which PCO; an update that sets nothing else still creates it, so the key is what it sets then.
    key_field = update.key[0]
    given = frozenset(update.model_fields_set) - {key_field}
    return given or frozenset({key_field})
