"""The service layer: every business rule lives here once.

Web routes, CLI commands and RQ jobs all call these functions. Nothing in this
package imports Flask; callers pass the SQLAlchemy session and the time.
"""
