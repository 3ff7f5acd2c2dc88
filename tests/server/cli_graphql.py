# ruff: noqa: E101, E501 -- the CLI's documents are kept byte for byte: tabs mixed with spaces, long lines
"""The GraphQL documents the `circleci` CLI v0.1.x sends, verbatim, and a client that sends them as it does.

Copied from CircleCI-Public/circleci-cli, branch v0 (a631c5b3): `api/api.go`, `api/orb/v2_client.go`,
`config/v1_api_client.go` (API-SURFACE §9). Tabs and odd indentation are the CLI's own. The CLI
cannot be built here, so the tests replay these documents over HTTP with its headers.
"""

from __future__ import annotations

from typing import Any

import httpx2

IMPORT_ORB_VERSION = """
		mutation($config: String!, $orbId: UUID!, $version: String!) {
			importOrbVersion(
				orbId: $orbId,
				orbYaml: $config,
				version: $version
			) {
				orb {
					version
				}
				errors { message }
			}
		}
	"""

PUBLISH_ORB = """
		mutation($config: String!, $orbName: String, $namespaceName: String, $version: String!) {
			publishOrb(
				orbName: $orbName,
				namespaceName: $namespaceName,
				orbYaml: $config,
				version: $version
			) {
				orb {
					version
				}
				errors { message }
			}
		}
	"""

ORB_EXISTS = """
	query ($name: String!, $namespace: String) {
		orb(name: $name) {
		  id
		  isPrivate
		}
		registryNamespace(name: $namespace) {
			id
		  }
	  }
	  """

ORB_ID = """
	query ($name: String!, $namespace: String) {
		orb(name: $name) {
		  id
		}
		registryNamespace(name: $namespace) {
		  id
		}
	  }
	  """

IMPORT_NAMESPACE = """
			mutation($name: String!) {
				importNamespace(
					name: $name,
				) {
					namespace {
						id
					}
					errors {
						message
						type
					}
				}
			}"""

CREATE_NAMESPACE = """
			mutation($name: String!, $organizationId: UUID!) {
				createNamespace(
					name: $name,
					organizationId: $organizationId
				) {
					namespace {
						id
					}
					errors {
						message
						type
					}
				}
			}"""

ORGANIZATION_BY_ID = """query($orgId: ID!) {
	organization(id: $orgId) {
		id
		name
		vcsType
	}
}"""

ORGANIZATION_BY_NAME = """query($orgName: String!, $vcsType: VCSType!) {
	organization(name: $orgName, vcsType: $vcsType) {
		id
		name
		vcsType
	}
}"""

GET_NAMESPACE = """
				query($name: String!) {
					registryNamespace(
						name: $name
					){
						id
					}
			 }"""

NAMESPACE_EXISTS = """
				query($name: String!) {
					registryNamespace(
						name: $name
					){
						id
					}
			 }"""

CREATE_ORB = """mutation($name: String!, $registryNamespaceId: UUID!, $isPrivate: Boolean!){
				createOrb(
					name: $name,
					registryNamespaceId: $registryNamespaceId,
					isPrivate: $isPrivate
				){
				    orb {
				      id
				    }
				    errors {
				      message
				      type
				    }
				}
}"""

IMPORT_ORB = """mutation($name: String!, $registryNamespaceId: UUID!){
				importOrb(
					name: $name,
					registryNamespaceId: $registryNamespaceId
				){
				    orb {
				      id
				    }
				    errors {
				      message
				      type
				    }
				}
}"""

ORB_LATEST_VERSION = """query($name: String!) {
			    orb(name: $name) {
			      versions(count: 1) {
				    version
			      }
			    }
		      }"""

PROMOTE_ORB = """
		mutation($orbName: String, $namespaceName: String, $devVersion: String!, $semanticVersion: String!) {
			promoteOrb(
				orbName: $orbName,
				namespaceName: $namespaceName,
				devVersion: $devVersion,
				semanticVersion: $semanticVersion
			) {
				orb {
					version
					source
				}
				errors { message }
			}
		}
	"""

SET_ORB_LIST_STATUS = """
mutation($orbId: UUID!, $list: Boolean!) {
	setOrbListStatus(
		orbId: $orbId,
		list: $list
	) {
		listed
		errors {
			message
			type
		}
	}
}
	"""

ORB_SOURCE = """query($orbVersionRef: String!) {
			    orbVersion(orbVersionRef: $orbVersionRef) {
			        id
                                version
                                orb { id }
                                source
			    }
		      }"""

ORB_INFO = """query($orbVersionRef: String!) {
			    orbVersion(orbVersionRef: $orbVersionRef) {
			        id
                                version
                                orb {
                                    id
                                    createdAt
									name
									namespace {
									  name
									}
                                    categories {
                                      id
                                      name
                                    }
	                            statistics {
		                        last30DaysBuildCount,
		                        last30DaysProjectCount,
		                        last30DaysOrganizationCount
	                            }
                                    versions(count: 200) {
                                        createdAt
                                        version
                                    }
                                }
                                source
                                createdAt
			    }
		      }"""

LIST_ORBS = """
query ListOrbs ($after: String!, $certifiedOnly: Boolean!) {
  orbs(first: 20, after: $after, certifiedOnly: $certifiedOnly) {
	totalCount,
    edges {
		cursor
	  node {
	    name
	    statistics {
		last30DaysBuildCount,
		last30DaysProjectCount,
		last30DaysOrganizationCount
	    }
		  versions(count: 1) {
			version,
			source
		  }
		}
	}
    pageInfo {
      hasNextPage
    }
  }
}
"""

LIST_NAMESPACE_ORB_VERSIONS = """
query namespaceOrbs ($namespace: String, $after: String!) {
		registryNamespace(name: $namespace) {
			name
			id
			orbs(first: 20, after: $after) {
				edges {
					cursor
					node {
						versions(count: 1) {
							source
							id
							version
							createdAt
						}
						name
						id
						createdAt
					}
				}
				pageInfo {
					hasNextPage
				}
			}
		}
	}
"""

ORB_CATEGORY_ID = """
	query ($name: String!) {
		orbCategoryByName(name: $name) {
		  id
		}
	}"""

ORB_CATEGORIZATION = """
		mutation($orbId: UUID!, $categoryId: UUID!) {
			%s(
				orbId: $orbId,
				categoryId: $categoryId
			) {
				orbId
				categoryId
				errors {
					message
					type
				}
			}
		}
	"""

LIST_ORB_CATEGORIES = """
	query ListOrbCategories($after: String!) {
		orbCategories(first: 20, after: $after) {
			totalCount
			edges {
				cursor
				node {
					id
					name
				}
			}
			pageInfo {
				hasNextPage
			}
		}
	}
"""

BUILD_CONFIG = """query ValidateConfig ($config: String!, $pipelineParametersJson: String, $pipelineValues: [StringKeyVal!], $orgSlug: String, $next: Boolean!) {
			buildConfig(configYaml: $config, pipelineValues: $pipelineValues, next: $next%s) {
				valid,
				errors { message },
				sourceYaml,
				outputYaml
			}
		}"""

_NAMESPACE_ORBS_HEAD = """
query namespaceOrbs ($namespace: String, $after: String!, $view: OrbListViewType) {
	registryNamespace(name: $namespace) {
		name
                id
		orbs(first: 20, after: $after, view: $view) {
			edges {
				cursor
				node {
					versions """
_NAMESPACE_ORBS_TAIL = """ version
					}
					name
	                                statistics {
		                           last30DaysBuildCount,
		                           last30DaysProjectCount,
		                           last30DaysOrganizationCount
	                               }
				}
			}
			totalCount
			pageInfo {
				hasNextPage
			}
		}
	}
}
"""


def namespace_orbs(details: bool) -> str:
    """`orb list <ns> [--details]`: with details, `versions(count: 1)` and their source."""
    return _NAMESPACE_ORBS_HEAD + ("(count: 1){ source," if details else "{") + _NAMESPACE_ORBS_TAIL


VALIDATE_ORB = """query ValidateOrb ($config: String!, $owner: UUID) {
	orbConfig(orbYaml: $config, ownerId: $owner) {
		valid,
		errors { message },
		sourceYaml,
		outputYaml
	}
}"""


class GraphQLFailed(Exception):
    """What the CLI reports: a non-200 status, or the top-level `errors` joined by newlines."""


class CircleCli:
    """Sends documents the way the CLI's graphql client does and reads answers the way it does.

    Headers: JSON content type and accept with charset, the token raw in `Authorization` (no scheme
    word), the user agent and `Circleci-Cli-Command`. Any status but 200 is a failure; top-level
    errors are a failure whose message is the errors' messages joined.
    """

    def __init__(self, http: httpx2.AsyncClient, token: str | None, command: str = "orb") -> None:
        self.http = http
        self.headers = {
            "Content-Type": "application/json; charset=utf-8",
            "Accept": "application/json; charset=utf-8",
            "User-Agent": "circleci-cli/0.1.47860+a631c5b (release)",
            "Circleci-Cli-Command": command,
        }
        if token is not None:
            self.headers["Authorization"] = token

    async def raw(self, query: str, **variables: Any) -> dict[str, Any]:
        response = await self.http.post(
            "/graphql-unstable", json={"query": query, "variables": variables}, headers=self.headers
        )
        if response.status_code != 200:
            raise GraphQLFailed(f"failure calling GraphQL API: {response.status_code}")
        body: dict[str, Any] = response.json()
        return body

    async def run(self, query: str, **variables: Any) -> dict[str, Any]:
        body = await self.raw(query, **variables)
        if body.get("errors"):
            raise GraphQLFailed("\n".join(e["message"] for e in body["errors"]))
        data: dict[str, Any] = body["data"]
        return data

    async def mutate(self, query: str, field: str, **variables: Any) -> dict[str, Any]:
        """A mutation's payload; its `errors` list, which the CLI checks first, raised as the CLI prints them."""
        payload: dict[str, Any] = (await self.run(query, **variables))[field]
        if payload["errors"]:
            raise GraphQLFailed("\n".join(e["message"] for e in payload["errors"]))
        return payload

    # the CLI's compound commands

    async def namespace_id(self, name: str) -> str:
        """`GetNamespace`: the id, or the CLI's "does not exist" error when it is empty."""
        found = (await self.run(GET_NAMESPACE, name=name))["registryNamespace"] or {}
        if not found.get("id"):
            raise GraphQLFailed(f"the namespace '{name}' does not exist.")
        return str(found["id"])

    async def orb_id(self, namespace: str, orb: str) -> str:
        data = await self.run(ORB_ID, name=f"{namespace}/{orb}", namespace=namespace)
        if not (data["orb"] or {}).get("id"):
            raise GraphQLFailed(f"the '{orb}' orb does not exist in the '{namespace}' namespace.")
        return str(data["orb"]["id"])

    async def latest_version(self, namespace: str, orb: str) -> str:
        """`OrbLatestVersion`: versions(count: 1)[0], or 0.0.0 when there is none."""
        versions = ((await self.run(ORB_LATEST_VERSION, name=f"{namespace}/{orb}"))["orb"] or {}).get("versions")
        return str(versions[0]["version"]) if versions and len(versions) == 1 else "0.0.0"

    async def list_orbs(self, uncertified: bool = False) -> list[dict[str, Any]]:
        """`orb list`: every page, the cursor of the last edge passed on, while hasNextPage."""
        nodes, cursor = [], ""
        while True:
            orbs = (await self.run(LIST_ORBS, after=cursor, certifiedOnly=not uncertified))["orbs"]
            for edge in orbs["edges"]:
                cursor = edge["cursor"]
                if edge["node"]["versions"]:
                    nodes.append(edge["node"])
            if not orbs["pageInfo"]["hasNextPage"]:
                return nodes

    async def list_namespace_orbs(self, namespace: str, private: bool, details: bool) -> list[dict[str, Any]]:
        """`orb list <ns> [--private] [--details]`."""
        nodes, cursor = [], ""
        view = "PRIVATE_ONLY" if private else "PUBLIC_ONLY"
        while True:
            found = (await self.run(namespace_orbs(details), after=cursor, namespace=namespace, view=view))[
                "registryNamespace"
            ]
            if not (found or {}).get("id"):
                raise GraphQLFailed("No namespace found")
            for edge in found["orbs"]["edges"]:
                cursor = edge["cursor"]
                nodes.append(edge["node"])
            if not found["orbs"]["pageInfo"]["hasNextPage"]:
                return nodes

    async def orb_info(self, ref: str) -> dict[str, Any] | None:
        """`orb info`: None where the CLI says the version does not exist (an empty id)."""
        ref = ref if "@" in ref else f"{ref}@volatile"
        version = (await self.run(ORB_INFO, orbVersionRef=ref))["orbVersion"]
        return version if (version or {}).get("id") else None

    async def orb_source(self, ref: str) -> str | None:
        ref = ref if "@" in ref else f"{ref}@volatile"
        version = (await self.run(ORB_SOURCE, orbVersionRef=ref))["orbVersion"]
        return str(version["source"]) if (version or {}).get("id") else None

    async def list_categories(self) -> list[dict[str, Any]]:
        nodes, cursor = [], ""
        while True:
            found = (await self.run(LIST_ORB_CATEGORIES, after=cursor))["orbCategories"]
            for edge in found["edges"]:
                cursor = edge["cursor"]
                nodes.append(edge["node"])
            if not found["pageInfo"]["hasNextPage"]:
                return nodes


def increment(version: str, segment: str) -> str:
    """The CLI's `incrementVersion` (Masterminds semver): the next major, minor or patch."""
    major, minor, patch = (int(p) for p in version.split("."))
    return {
        "major": f"{major + 1}.0.0",
        "minor": f"{major}.{minor + 1}.0",
        "patch": f"{major}.{minor}.{patch + 1}",
    }[segment]
