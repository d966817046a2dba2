from smashconfig import SmashConfig


def test_config_round_trips_through_yaml():
    cfg = SmashConfig({"quanto": {"weight_bits": "qint4"}})
    assert SmashConfig.from_yaml(cfg.to_yaml()) == cfg
