"""The SIP provider (type ``sip``), on a fixed-up pyVoIP.

provider.py     SipProvider: the dialer's side (one call = agent leg + client leg, bridged)
settings.py     SipSettings: the YAML settings, validated
outcomes.py     a final SIP response -> the call's status
addressing.py   agent/client request URIs, the next hop, DNS resolved once
media.py        RTP: one thread relays the legs' audio, plays nudges and prompts, reads DTMF
client.py       DialerSipClient: incoming requests, INVITE transactions and dialogs, CANCEL, BYE
registration.py REGISTER with refresh, digest and back-off
transport.py    the UDP socket, the SIP thread and its timers
transactions.py non-INVITE client transactions (retransmission, timeout)
dialog.py       Leg: one outbound INVITE and its dialog
message.py      SIP message and header parsing
sdp.py          SDP offer/answer
digest.py       digest authentication
phone.py        SipPhone: pyVoIP's VoIPPhone around the client and the media engine
pyvoip.py       pyVoIP imported in the order that works, its debug output sent to structlog
"""

from providers.sip.provider import SipProvider, map_final
from providers.sip.settings import SipSettings, SipSettingsError

__all__ = ["SipProvider", "SipSettings", "SipSettingsError", "map_final"]
