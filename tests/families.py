"""The smallest model of each zoo family: what CI converts and checks for every family."""

ONE_PER_FAMILY = [
    "RedNet26",
    "ReXNet_1_0",
    "RegNetX_200MF",
    "ResNeSt50_fast_1s1x64d",
    "Res2Net50_14w_8s",
]
