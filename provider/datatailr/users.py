"""Users and groups (contract §2.1, §2.2).

Every call here is an apply's write, so none is marked idempotent: after an ambiguous failure
(an answer lost, a 5xx) the transport does not send it again, and the applier decides from live
state whether it landed (the promise that no write is sent twice unless live state proves the
first did not happen). That holds even where a repeat would be harmless (`enable`,
`add-to-group`, ...), and it matters where it would not: a repeated `user add` is a Conflict,
a repeated rename finds the old name gone.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from .filters import combine
from .models import Group, SignedUser, User
from .wire import comma_list

if TYPE_CHECKING:
    from .client import DatatailrClient


def _listing(client: DatatailrClient, command: str, filter: str | None, sort: str | None) -> list[Any]:
    return client._ls(command, {"filter": filter, "sort": sort, "json": True})


class UsersApi:
    def __init__(self, client: DatatailrClient) -> None:
        self._client = client

    def ls(self, filter: str | None = None, *, where: Mapping[str, Any] | None = None,
           sort: str | None = None) -> list[User]:
        """Every user matching `filter` (raw DSL) and `where` (equalities, safely quoted)."""
        rows = _listing(self._client, "user/ls", combine(filter, where), sort)
        return [User.model_validate(r) for r in rows]

    def get(self, username: str) -> User:
        return User.model_validate(self._client.call("GET", "user/get", {"username": username, "json": True}))

    def exists(self, username: str) -> bool:
        return bool(self._client.call("GET", "user/exists", {"username": username}))

    def signed_user(self) -> SignedUser:
        return SignedUser.model_validate(self._client.call("GET", "user/signed-user"))

    def add(
        self,
        username: str,
        *,
        first_name: str = "",
        last_name: str = "",
        email: str | None = None,
        password: str | None = None,
        groups: Sequence[str] | None = None,
        users_can_mimic: Sequence[str] | None = None,
        system: bool = False,
    ) -> User:
        """Create a user; `groups=None` leaves the server's default (`dtusers`)."""
        result = self._client.call("POST", "user/add", {
            "username": username,
            "first-name": first_name,
            "last-name": last_name,
            "email": email,
            "password": password,
            "groups": None if groups is None else comma_list(groups, "group"),
            "users-can-mimic": None if users_can_mimic is None else comma_list(users_can_mimic, "user"),
            "system": system,
            "json-enrichened": True,
        }, idempotent=False, secret_values=[password or ""])
        if isinstance(result, Mapping) and "user_id" in result:
            return User.model_validate(result)
        return self.get(username)

    def modify(
        self,
        username: str,
        *,
        first_name: str | None = None,
        last_name: str | None = None,
        email: str | None = None,
        password: str | None = None,
        groups: Sequence[str] | None = None,
        users_can_mimic: Sequence[str] | None = None,
        new_name: str | None = None,
        system: bool | None = None,
    ) -> str:
        """Change fields in place; `None` leaves a field alone, `groups=[]` empties the groups.
        `system` is a flag on the wire: only `True` can be sent (treat `False` as a replace)."""
        if system is False:
            raise ValueError("user modify can only set the system flag; recreate the user to clear it")
        return self._client.call("PUT", "user/modify", {
            "username": username,
            "first-name": first_name,
            "last-name": last_name,
            "email": email,
            "password": password,
            "groups": None if groups is None else comma_list(groups, "group"),
            "users": None if users_can_mimic is None else comma_list(users_can_mimic, "user"),
            "name": new_name,
            "system": system,
        }, secret_values=[password or ""])

    def disable(self, username: str) -> str:
        return self._client.call("POST", "user/disable", {"username": username})

    def enable(self, username: str) -> str:
        return self._client.call("POST", "user/enable", {"username": username})

    def add_to_group(self, username: str, group_name: str) -> str:
        return self._client.call("POST", "user/add-to-group", {"username": username, "group_name": group_name})

    def remove_from_group(self, username: str, group_name: str) -> str:
        return self._client.call("POST", "user/rm-from-group", {"username": username, "group_name": group_name})

    def rm(self, username: str) -> str:
        return self._client.call("DELETE", "user/rm", {"username": username})


class GroupsApi:
    def __init__(self, client: DatatailrClient) -> None:
        self._client = client

    def ls(self, filter: str | None = None, *, where: Mapping[str, Any] | None = None,
           sort: str | None = None) -> list[Group]:
        rows = _listing(self._client, "group/ls", combine(filter, where), sort)
        return [Group.model_validate(r) for r in rows]

    def get(self, group_name: str) -> Group:
        return Group.model_validate(self._client.call("GET", "group/get", {"group_name": group_name, "json": True}))

    def exists(self, group_name: str) -> bool:
        return bool(self._client.call("GET", "group/exists", {"group_name": group_name}))

    def add(self, group_name: str) -> Group:
        result = self._client.call("POST", "group/add", {"group_name": group_name, "json-enrichened": True},
                                   idempotent=False)
        if isinstance(result, Mapping) and "group_id" in result:
            return Group.model_validate(result)
        return self.get(group_name)

    def add_users(self, group_name: str, usernames: Sequence[str]) -> str:
        """Add members (a set-add). One request, usernames comma-joined (§7.2.4)."""
        if not usernames:
            raise ValueError("add_users needs at least one username")
        return self._client.call("POST", "group/add-users",
                                 {"group_name": group_name, "username": comma_list(usernames, "username")})

    def rm_users(self, group_name: str, usernames: Sequence[str]) -> str:
        if not usernames:
            raise ValueError("rm_users needs at least one username")
        return self._client.call("DELETE", "group/rm-users",
                                 {"group_name": group_name, "username": comma_list(usernames, "username")})

    def rename(self, group_name: str, new_group_name: str) -> str:
        return self._client.call("PUT", "group/rename",
                                 {"group_name": group_name, "new_group_name": new_group_name}, idempotent=False)

    def rm(self, group_name: str) -> str:
        return self._client.call("DELETE", "group/rm", {"group_name": group_name})
