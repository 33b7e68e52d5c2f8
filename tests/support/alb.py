"""An Application Load Balancer in moto, for the alb.* tests, through boto3
(the moto venv has it): `setup NAME` creates a VPC, two subnets, the ALB,
target groups NAME-blue and NAME-green, an HTTP listener forwarding to blue
(stickiness on, as a real listener may have it) and a rule forwarding /api/*
to blue, and prints their ARNs; `actions LISTENER RULE` prints both action
lists as ELBv2 describes them."""

import json
import os
import sys

import boto3


def client(service):
    return boto3.client(
        service,
        endpoint_url=os.environ["RELCTL_TEST_MOTO_URL"],
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )


def setup(name):
    ec2, elb = client("ec2"), client("elbv2")
    vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
    subnets = [
        ec2.create_subnet(VpcId=vpc, CidrBlock=f"10.0.{i}.0/24", AvailabilityZone=f"us-east-1{z}")["Subnet"]["SubnetId"]
        for i, z in ((1, "a"), (2, "b"))
    ]
    lb = elb.create_load_balancer(Name=name[-32:], Subnets=subnets, Type="application")["LoadBalancers"][0]["LoadBalancerArn"]
    groups = {
        color: elb.create_target_group(Name=f"{name[-26:]}-{color}", Protocol="HTTP", Port=80, VpcId=vpc, TargetType="ip")[
            "TargetGroups"
        ][0]["TargetGroupArn"]
        for color in ("blue", "green")
    }
    forward = {
        "Type": "forward",
        "ForwardConfig": {
            "TargetGroups": [{"TargetGroupArn": groups["blue"], "Weight": 1}],
            "TargetGroupStickinessConfig": {"Enabled": True, "DurationSeconds": 300},
        },
    }
    listener = elb.create_listener(LoadBalancerArn=lb, Protocol="HTTP", Port=80, DefaultActions=[forward])["Listeners"][0][
        "ListenerArn"
    ]
    rule = elb.create_rule(
        ListenerArn=listener,
        Priority=10,
        Conditions=[{"Field": "path-pattern", "Values": ["/api/*"]}],
        Actions=[{"Type": "forward", "TargetGroupArn": groups["blue"]}],
    )["Rules"][0]["RuleArn"]
    print(json.dumps({"listener": listener, "rule": rule, "blue": groups["blue"], "green": groups["green"]}))


def actions(listener, rule):
    elb = client("elbv2")
    print(
        json.dumps(
            {
                "listener": elb.describe_listeners(ListenerArns=[listener])["Listeners"][0]["DefaultActions"],
                "rule": elb.describe_rules(RuleArns=[rule])["Rules"][0]["Actions"],
            },
            sort_keys=True,
        )
    )


if __name__ == "__main__":
    {"setup": setup, "actions": actions}[sys.argv[1]](*sys.argv[2:])
