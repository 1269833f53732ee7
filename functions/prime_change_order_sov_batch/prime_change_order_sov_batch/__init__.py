"""Oracle Primavera Cloud POST /primeapi/restapi/changeOrderSOV/batch: batch-create change-order SOVs."""
