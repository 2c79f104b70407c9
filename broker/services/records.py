"""The stored records the services hand to the API and the console, named where those may import them."""

from broker.storage.agents import AgentRecord
from broker.storage.grants import EntryRecord, GrantRecord
from broker.storage.organizations import OrganizationRecord
from broker.storage.principals import Principal, Role, UserRecord
from broker.storage.purposes import PurposeRecord

__all__ = [
    "AgentRecord",
    "EntryRecord",
    "GrantRecord",
    "OrganizationRecord",
    "Principal",
    "PurposeRecord",
    "Role",
    "UserRecord",
]
