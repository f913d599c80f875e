"""The Twilio provider (type ``twilio``): real calls through the official SDK.

provider.py     TwilioProvider: creating and following calls, webhooks, reconciliation
settings.py     TwilioSettings: the YAML settings, validated
state.py        what the worker knows of one call, and how that becomes a CallResult
webhooks.py     the public URL, signature checks, TwiML
rest_client.py  the SDK's HTTP client on httpx
"""

from providers.twilio.provider import TwilioProvider
from providers.twilio.settings import TwilioSettings, TwilioSettingsError

__all__ = ["TwilioProvider", "TwilioSettings", "TwilioSettingsError"]
