"""Configuration sections, one module per capability.

They are re-exported by ``erp_professional.config``.
"""
