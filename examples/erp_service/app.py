"""The demo ERP service (an invoice API), as ``erp-pro demo`` runs it.

Run with ``uvicorn examples.erp_service.app:app`` from the repository root, or ``erp-pro demo``.
"""

from erp_professional.demo import create_app

app = create_app()
