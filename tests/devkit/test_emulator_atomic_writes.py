"""The devkit's moto server applies each conditional write atomically, as DynamoDB does."""

from concurrent.futures import ThreadPoolExecutor

from botocore.exceptions import ClientError

from devkit.aws import dynamodb_client

LIMIT = 5
WRITERS = 8
ATTEMPTS = 40


def test_concurrent_conditional_updates_never_pass_a_check_only_one_may_pass(endpoint_url: str) -> None:
    client = dynamodb_client(endpoint_url)
    client.create_table(
        TableName="Counter",
        KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )

    def add_one(_: int) -> bool:
        try:
            dynamodb_client(endpoint_url).update_item(
                TableName="Counter",
                Key={"id": {"S": "shared"}},
                UpdateExpression="ADD #count :one",
                ConditionExpression="attribute_not_exists(#count) OR #count < :limit",
                ExpressionAttributeNames={"#count": "count"},
                ExpressionAttributeValues={":one": {"N": "1"}, ":limit": {"N": str(LIMIT)}},
            )
        except ClientError as error:
            return error.response["Error"]["Code"] != "ConditionalCheckFailedException"  # another error: counted
        return True

    # Plain moto 5.2.5 let 6 to 8 of these through in a quarter of 100 rounds (the check and the write unlocked).
    with ThreadPoolExecutor(WRITERS) as pool:
        passed = list(pool.map(add_one, range(ATTEMPTS)))
    item = client.get_item(TableName="Counter", Key={"id": {"S": "shared"}}, ConsistentRead=True)["Item"]
    assert sum(passed) == LIMIT == int(item["count"]["N"])
