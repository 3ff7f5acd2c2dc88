"""A job's ~/.ssh/config as the checkout and add_ssh_keys steps keep it: their sections around the job's own."""

from rondo.agent.steps.ssh_keys import SshConfig

OWN = "Host build-box\n  HostName 10.0.0.7\n  User ci"


def test_added_keys_come_first_the_checkout_key_last_and_the_job_s_own_lines_stay() -> None:
    config = SshConfig.parse(OWN + "\n")
    config.add("deploy.example.com", "/home/ci/.ssh/id_rsa_aa")
    config.identity_file, config.known_hosts = "/home/ci/.ssh/id_rsa", "/home/ci/.ssh/known_hosts"
    text = config.render()
    assert text.index("Host deploy.example.com\n  IdentityFile /home/ci/.ssh/id_rsa_aa") < text.index(OWN)
    assert text.index(OWN) < text.index("Host *\n  IdentityFile /home/ci/.ssh/id_rsa\n  UserKnownHostsFile")

    # A second add_ssh_keys step adds to the same section; nothing is repeated.
    again = SshConfig.parse(text)
    again.add("deploy.example.com", "/home/ci/.ssh/id_rsa_aa")
    again.add("deploy.example.com", "/home/ci/.ssh/id_rsa_bb")
    again.add("*", "/home/ci/.ssh/id_rsa_cc")
    rendered = again.render()
    assert rendered.count("IdentityFile /home/ci/.ssh/id_rsa_aa") == 1
    assert (
        "Host deploy.example.com\n  IdentityFile /home/ci/.ssh/id_rsa_aa\n  IdentityFile /home/ci/.ssh/id_rsa_bb\n"
        in rendered
    )
    assert rendered.count(OWN) == 1 and rendered.count("Host *\n") == 2
    assert SshConfig.parse(rendered).render() == rendered


def test_an_empty_config_gets_only_what_is_asked() -> None:
    config = SshConfig.parse("")
    assert config.render() == ""
    config.known_hosts = "/w/home/.ssh/known_hosts"
    assert config.render().splitlines()[1:3] == ["Host *", "  UserKnownHostsFile /w/home/.ssh/known_hosts"]
