"""ConstructionOnline PUT /api/ChangeOrders/{id}?coInfo=: update a change order."""
