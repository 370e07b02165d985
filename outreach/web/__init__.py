"""Blueprints, one per area of the product."""
from outreach.web.admin import bp as admin_bp
from outreach.web.auth import bp as auth_bp
from outreach.web.call_lists import bp as call_lists_bp
from outreach.web.calls import bp as calls_bp
from outreach.web.clients import bp as clients_bp
from outreach.web.home import bp as home_bp
from outreach.web.imports import bp as imports_bp
from outreach.web.me import bp as me_bp
from outreach.web.outcomes import bp as outcomes_bp
from outreach.web.twilio import bp as twilio_bp
from outreach.web.visits import bp as visits_bp
from outreach.web.voicemail import bp as voicemail_bp

BLUEPRINTS = [auth_bp, home_bp, admin_bp, imports_bp, call_lists_bp, calls_bp, clients_bp, visits_bp, outcomes_bp,
              twilio_bp, voicemail_bp, me_bp]
