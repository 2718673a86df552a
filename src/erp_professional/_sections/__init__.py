"""Configuration sections, one module per capability (re-exported by ``erp_professional.config``)."""
