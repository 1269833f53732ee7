"""Procore PATCH /rest/v1.0/potential_change_orders/sync: batch create/update of Potential Change Orders."""
