"""The local Cognito user pool, created in moto for `scripts/run-local` and for compose.yaml's
`cognito-seed` job: a pool like deploy/identity.yaml's (custom:customer_id, set by
administrators only), its public app client, the staff group `support-staff` the Cedar
policies name, and two demo users with the password in DEMO_PASSWORD:
customer-001 (custom:customer_id CUST-001) and staff-001 (in support-staff).

Prints the pool id, then the app client id, one a line, on stdout. Talks to the Cognito
endpoint in AWS_ENDPOINT_URL_COGNITO_IDENTITY_PROVIDER, in AWS_REGION.

compose.yaml names the pool and client ids statically, because its moto runs with
MOTO_COGNITO_IDP_USER_POOL_ID_STRATEGY=HASH and MOTO_COGNITO_IDP_USER_POOL_CLIENT_ID_STRATEGY=HASH:
moto then derives each id from a SHA-256 of the create request (region, name and the other
parameters; moto/cognitoidp/utils.py, `generate_id`), so the same requests give the same ids.
With EXPECTED_USER_POOL_ID and EXPECTED_CLIENT_ID set, the script fails when the ids differ
(a changed request below, or another moto version), saying which ids to put in compose.yaml.

Run again on the same moto, it reuses the pool, client, group and users it finds by name and
sets the password again, so restarting the job is harmless.
"""

import os
import sys

import boto3

POOL_NAME = "support-local-users"
CLIENT_NAME = "support-local-app"
STAFF_GROUP = "support-staff"
USERS = [
    ("customer-001", [("email", "customer-001@example.com"), ("custom:customer_id", "CUST-001")], []),
    ("staff-001", [("email", "staff-001@example.com")], [STAFF_GROUP]),
]


def find_pool(client):
    for page in client.get_paginator("list_user_pools").paginate(MaxResults=60):
        for pool in page["UserPools"]:
            if pool["Name"] == POOL_NAME:
                return pool["Id"]
    return None


def find_client(client, pool):
    for page in client.get_paginator("list_user_pool_clients").paginate(UserPoolId=pool, MaxResults=60):
        for app in page["UserPoolClients"]:
            if app["ClientName"] == CLIENT_NAME:
                return app["ClientId"]
    return None


def ensure_pool(client):
    # The requests' parameters are hashed into the ids: change them and compose.yaml's ids change.
    return find_pool(client) or client.create_user_pool(
        PoolName=POOL_NAME,
        Schema=[{"Name": "customer_id", "AttributeDataType": "String", "Mutable": True}],
    )["UserPool"]["Id"]


def ensure_client(client, pool):
    return find_client(client, pool) or client.create_user_pool_client(
        UserPoolId=pool, ClientName=CLIENT_NAME, GenerateSecret=False,
        ExplicitAuthFlows=["ALLOW_USER_PASSWORD_AUTH", "ALLOW_REFRESH_TOKEN_AUTH"],
        ReadAttributes=["email", "custom:customer_id"], WriteAttributes=["email"],
    )["UserPoolClient"]["ClientId"]


def ensure_users(client, pool, password):
    try:
        client.create_group(UserPoolId=pool, GroupName=STAFF_GROUP)
    except client.exceptions.GroupExistsException:
        pass
    for name, attributes, groups in USERS:
        try:
            client.admin_create_user(UserPoolId=pool, Username=name, MessageAction="SUPPRESS",
                                     UserAttributes=[{"Name": k, "Value": v} for k, v in attributes])
        except client.exceptions.UsernameExistsException:
            pass
        client.admin_set_user_password(UserPoolId=pool, Username=name, Password=password, Permanent=True)
        for group in groups:
            client.admin_add_user_to_group(UserPoolId=pool, Username=name, GroupName=group)


def main():
    client = boto3.client("cognito-idp", region_name=os.environ["AWS_REGION"],
                          endpoint_url=os.environ["AWS_ENDPOINT_URL_COGNITO_IDENTITY_PROVIDER"])
    pool = ensure_pool(client)
    app = ensure_client(client, pool)
    ensure_users(client, pool, os.environ["DEMO_PASSWORD"])
    for variable, actual in [("EXPECTED_USER_POOL_ID", pool), ("EXPECTED_CLIENT_ID", app)]:
        expected = os.environ.get(variable)
        if expected and expected != actual:
            sys.exit(f"cognito-seed: moto gave {actual}, but {variable} is {expected}: put the ids "
                     f"this script prints (pool {pool}, app client {app}) in compose.yaml")
    print(f"cognito-seed: pool {pool}, app client {app}, users "
          + ", ".join(name for name, _, _ in USERS), file=sys.stderr)
    print(pool)
    print(app)


if __name__ == "__main__":
    main()
