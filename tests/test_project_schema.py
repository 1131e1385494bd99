from pathlib import Path

import pytest

from edgehost.project import (
    DeploymentDef,
    FunctionDef,
    Project,
    ProjectError,
    RouteDef,
    load_project,
    project_from_dict,
)
from tests.project_files import problems_of

EXAMPLE = """\
project = "demo"

[[functions]]
name = "hello"
wasm = "functions/hello/hello.wat"
memory_pages = 16
max_execution_ms = 50
min_hot_instances = 1
max_hot_instances = 8
fresh_instance = true

[[routes]]
host = "*"
path = "/hello"
methods = ["GET"]
function = "hello"
priority = 100

[[deployments]]
function = "hello"
selector = "true"
"""

# A minimal valid file; tests append tables or override keys to provoke one problem at a time.
HEAD = 'project = "demo"\n'
HELLO = '[[functions]]\nname = "hello"\nwasm = "functions/hello/hello.wat"\n'
NAME_RULE = "1 to 63 characters of a-z, 0-9 and '-', not starting or ending with '-'"
EXPORT_RULE = "an export name of letters, digits and '_' not starting with a digit"


@pytest.fixture
def project_dir(tmp_path: Path) -> Path:
    wat = tmp_path / "functions" / "hello" / "hello.wat"
    wat.parent.mkdir(parents=True)
    wat.write_text("(module)")
    return tmp_path


def only_problem(folder: Path, text: str) -> str:
    problems = problems_of(folder, text)
    assert len(problems) == 1, problems
    return problems[0]


def test_example_round_trip(project_dir: Path) -> None:
    (project_dir / "edgefn.toml").write_text(EXAMPLE)
    project = load_project(project_dir)
    wasm = (project_dir / "functions" / "hello" / "hello.wat").resolve()
    assert project == Project(
        name="demo",
        path=(project_dir / "edgefn.toml").resolve(),
        functions=(
            FunctionDef(
                "hello",
                wasm,
                "handle",
                memory_pages=16,
                max_execution_ms=50,
                max_hot_instances=8,
                fresh_instance=True,
            ),
        ),
        routes=(RouteDef(host="*", path="/hello", methods=("GET",), function="hello", priority=100),),
        deployments=(DeploymentDef("hello", "true"),),
    )
    assert load_project(project_dir / "edgefn.toml") == project


def test_defaults_and_normalisation(project_dir: Path) -> None:
    (project_dir / "edgefn.toml").write_text(
        HEAD
        + HELLO
        + 'http_allow = ["API.example.com", "*.example.org", "10.0.0.1", "::1"]\n'
        + '[[routes]]\npath = "/users/{id}/*"\nfunction = "hello"\nmethods = ["get", "post", "GET"]\n'
        + '[[deployments]]\nfunction = "hello"\n'
    )
    project = load_project(project_dir)
    (function,) = project.functions
    assert function.wasm.is_absolute()
    assert (function.entrypoint, function.memory_pages, function.max_execution_ms) == ("handle", 16, 50)
    assert (function.min_hot_instances, function.max_hot_instances) == (1, 16)
    assert function.fresh_instance is False
    assert function.http_allow == ("api.example.com", "*.example.org", "10.0.0.1", "::1")
    assert project.routes == (
        RouteDef(host="*", path="/users/{id}/*", methods=("GET", "POST"), function="hello", priority=0),
    )
    assert project.deployments == (DeploymentDef("hello", "true"),)


def test_project_from_dict_reuses_validation(project_dir: Path) -> None:
    data = {"project": "demo", "functions": [{"name": "hello", "wasm": "functions/hello/hello.wat"}]}
    assert project_from_dict(data, path=project_dir / "edgefn.toml").functions[0].name == "hello"
    with pytest.raises(ProjectError) as caught:
        project_from_dict(
            {"project": "demo", "routes": [{"path": "/", "function": "x"}]}, path=Path("p.toml")
        )
    assert caught.value.problems == ['p.toml: [[routes]] #1: function "x" is not defined in [[functions]]']


def test_toml_syntax_error_has_line_and_column(project_dir: Path) -> None:
    problem = only_problem(project_dir, HEAD + "[[functions]\n")
    assert problem.startswith("edgefn.toml: invalid TOML: ")
    assert problem.endswith("(at line 2, column 12)")


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ProjectError, match=r"edgefn.toml: cannot read project file"):
        load_project(tmp_path)


def test_unknown_top_level_key_with_did_you_mean(project_dir: Path) -> None:
    assert only_problem(project_dir, HEAD + "function = []\n") == (
        'edgefn.toml: unknown key "function" (did you mean "functions"?)'
    )


def test_unknown_key_in_table_with_did_you_mean(project_dir: Path) -> None:
    text = (
        HEAD
        + HELLO
        + '[[routes]]\npath = "/a"\nfunction = "hello"\n[[routes]]\npathh = "/b"\nfunction = "hello"\n'
    )
    assert problems_of(project_dir, text) == [
        'edgefn.toml: [[routes]] #2: unknown key "pathh" (did you mean "path"?)',
        'edgefn.toml: [[routes]] #2: missing required key "path"',
    ]


def test_unknown_key_without_suggestion(project_dir: Path) -> None:
    assert only_problem(project_dir, HEAD + HELLO + "zzz = 1\n") == (
        'edgefn.toml: [[functions]] #1 "hello": unknown key "zzz"'
    )


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", 'edgefn.toml: missing required key "project"'),
        (
            HEAD + '[[functions]]\nwasm = "functions/hello/hello.wat"\n',
            'edgefn.toml: [[functions]] #1: missing required key "name"',
        ),
        (
            HEAD + '[[functions]]\nname = "hello"\n',
            'edgefn.toml: [[functions]] #1 "hello": missing required key "wasm"',
        ),
        (
            HEAD + HELLO + '[[routes]]\nfunction = "hello"\n',
            'edgefn.toml: [[routes]] #1: missing required key "path"',
        ),
        (
            HEAD + HELLO + '[[routes]]\npath = "/"\n',
            'edgefn.toml: [[routes]] #1: missing required key "function"',
        ),
        (
            HEAD + HELLO + "[[deployments]]\n",
            'edgefn.toml: [[deployments]] #1: missing required key "function"',
        ),
    ],
)
def test_missing_required_key(project_dir: Path, text: str, expected: str) -> None:
    assert only_problem(project_dir, text) == expected


@pytest.mark.parametrize(
    ("extra", "expected"),
    [
        ("entrypoint = 3", "entrypoint must be a string, got 3"),
        ('memory_pages = "16"', 'memory_pages must be an integer from 1 to 32768, got "16"'),
        ("max_execution_ms = true", "max_execution_ms must be an integer from 1 to 300000, got true"),
        ('http_allow = "a.com"', 'http_allow must be an array of strings, got "a.com"'),
        ('http_allow = ["a.com", 7]', "http_allow[2] must be a string, got 7"),
        ("fresh_instance = 1", "fresh_instance must be true or false, got 1"),
        ('fresh_instance = "true"', 'fresh_instance must be true or false, got "true"'),
    ],
)
def test_wrong_types(project_dir: Path, extra: str, expected: str) -> None:
    assert (
        only_problem(project_dir, HEAD + HELLO + extra + "\n")
        == f'edgefn.toml: [[functions]] #1 "hello": {expected}'
    )


def test_wrong_table_shapes(project_dir: Path) -> None:
    assert problems_of(project_dir, "project = 1\nroutes = 2\ndeployments = [3]\n") == [
        "edgefn.toml: project must be a string, got 1",
        "edgefn.toml: routes must be an array of tables ([[routes]]), got 2",
        "edgefn.toml: [[deployments]] #1 must be a table, got 3",
    ]


@pytest.mark.parametrize("name", ["Demo", "-demo", "demo-", "de_mo", "a" * 64, ""])
def test_bad_project_name(project_dir: Path, name: str) -> None:
    assert only_problem(project_dir, f'project = "{name}"\n') == (
        f'edgefn.toml: project must be {NAME_RULE}, got "{name}"'
    )


def test_bad_function_name(project_dir: Path) -> None:
    text = HEAD + '[[functions]]\nname = "Hello!"\nwasm = "functions/hello/hello.wat"\n'
    assert only_problem(project_dir, text) == (
        f'edgefn.toml: [[functions]] #1 "Hello!": name must be {NAME_RULE}, got "Hello!"'
    )


def test_duplicate_function_name(project_dir: Path) -> None:
    assert only_problem(project_dir, HEAD + HELLO + HELLO) == (
        'edgefn.toml: [[functions]] #2 "hello": name "hello" is already used by [[functions]] #1'
    )


@pytest.mark.parametrize(
    ("extra", "expected"),
    [
        ("memory_pages = 0", "memory_pages must be an integer from 1 to 32768, got 0"),
        ("memory_pages = 32769", "memory_pages must be an integer from 1 to 32768, got 32769"),
        ("max_execution_ms = 0", "max_execution_ms must be an integer from 1 to 300000, got 0"),
        ("max_execution_ms = 300001", "max_execution_ms must be an integer from 1 to 300000, got 300001"),
        ("min_hot_instances = -1", "min_hot_instances must be an integer from 0 to 1024, got -1"),
        ("min_hot_instances = 1025", "min_hot_instances must be an integer from 0 to 1024, got 1025"),
        ("max_hot_instances = 0", "max_hot_instances must be an integer from 1 to 4096, got 0"),
        ("max_hot_instances = 4097", "max_hot_instances must be an integer from 1 to 4096, got 4097"),
        (
            "min_hot_instances = 4\nmax_hot_instances = 2",
            "max_hot_instances (2) must be >= min_hot_instances (4)",
        ),
    ],
)
def test_out_of_range(project_dir: Path, extra: str, expected: str) -> None:
    assert (
        only_problem(project_dir, HEAD + HELLO + extra + "\n")
        == f'edgefn.toml: [[functions]] #1 "hello": {expected}'
    )


@pytest.mark.parametrize(
    ("entrypoint", "expected"),
    [
        (
            "1st",
            f'entrypoint must be {EXPORT_RULE}, got "1st"',
        ),
        (
            "a b",
            f'entrypoint must be {EXPORT_RULE}, got "a b"',
        ),
        ("edgefn_alloc", 'entrypoint "edgefn_alloc" is already an export of the guest ABI'),
    ],
)
def test_bad_entrypoint(project_dir: Path, entrypoint: str, expected: str) -> None:
    text = HEAD + HELLO + f'entrypoint = "{entrypoint}"\n'
    assert only_problem(project_dir, text) == f'edgefn.toml: [[functions]] #1 "hello": {expected}'


def test_wasm_missing_and_wrong_extension(project_dir: Path) -> None:
    (project_dir / "notes.txt").write_text("")
    text = (
        HEAD
        + '[[functions]]\nname = "a"\nwasm = "functions/missing.wasm"\n'
        + '[[functions]]\nname = "b"\nwasm = "notes.txt"\n'
        + '[[functions]]\nname = "c"\nwasm = "functions/hello/hello.wat"\n'
    )
    missing = (project_dir / "functions" / "missing.wasm").resolve()
    assert problems_of(project_dir, text) == [
        'edgefn.toml: [[functions]] #1 "a": wasm file "functions/missing.wasm" does not exist '
        f"(looked for {missing})",
        'edgefn.toml: [[functions]] #2 "b": wasm must name a .wasm, .wat, .c, .py, .js or .mjs file, '
        'got "notes.txt"',
    ]


def test_bad_http_allow_entries(project_dir: Path) -> None:
    text = HEAD + HELLO + 'http_allow = ["https://a.com", "a.com/x", "a.com:443", "*", "a..com", "ok.com"]\n'
    kind = 'must be a host name, an IP address or "*.domain"'
    prefix = 'edgefn.toml: [[functions]] #1 "hello": http_allow'
    assert problems_of(project_dir, text) == [
        f'{prefix}[1] "https://a.com" {kind}, without a scheme',
        f'{prefix}[2] "a.com/x" {kind}, without a path',
        f'{prefix}[3] "a.com:443" {kind}, without a port',
        f'{prefix}[4] "*" {kind}',
        f'{prefix}[5] "a..com" {kind}',
    ]


def route(**keys: str) -> str:
    fields = {"path": '"/"', "function": '"hello"', **keys}
    return HEAD + HELLO + "[[routes]]\n" + "".join(f"{key} = {value}\n" for key, value in fields.items())


@pytest.mark.parametrize(
    "host", ['"*"', '"example.com"', '"*.example.com"', '"a-1.example.io"', '"*.example.co.uk"']
)
def test_good_route_hosts(project_dir: Path, host: str) -> None:
    (project_dir / "edgefn.toml").write_text(route(host=host))
    load_project(project_dir)


@pytest.mark.parametrize(
    ("host", "problem"),
    [
        ("a..b", 'must be "*", a host name or "*.domain"'),
        ("*example.com", 'must be "*", a host name or "*.domain"'),
        ("http://a.com", 'must be "*", a host name or "*.domain"'),
        ("a.com:80", 'must be "*", a host name or "*.domain"'),
        ("**.a.com", 'must be "*", a host name or "*.domain"'),
        ("*.*.a.com", 'is not a valid wildcard: "*." and a host name'),
        ("*.com", "would claim a whole top-level domain; name a domain"),
        (
            "co.uk",
            "is a public suffix (Public Suffix List), where unrelated parties register domains, not a"
            " site; name a host under a domain registered there, such as app.example.co.uk",
        ),
        (
            "*.co.uk",
            'would claim every site under "co.uk", a public suffix (Public Suffix List) where unrelated'
            " parties register domains; name a domain registered under it, such as *.example.co.uk",
        ),
    ],
)
def test_bad_route_host(project_dir: Path, host: str, problem: str) -> None:
    """The route syntax is edgehost/routes.py's, the same the CP and the runner apply."""
    assert only_problem(project_dir, route(host=f'"{host}"')) == (
        f'edgefn.toml: [[routes]] #1: host "{host}" {problem}'
    )


@pytest.mark.parametrize("path", ["/", "/a", "/a/", "/users/{id}", "/a/{x}/{y_2}/*", "/*", "/a-b.c~d:e@f"])
def test_good_route_paths(project_dir: Path, path: str) -> None:
    (project_dir / "edgefn.toml").write_text(route(path=f'"{path}"'))
    assert load_project(project_dir).routes[0].path == path


_PARAM_RULE = "not starting with a digit, at most 64 characters"


@pytest.mark.parametrize(
    ("path", "problem"),
    [
        ("hello", 'must start with "/"'),
        ("/a//b", "has an empty segment"),
        ("/a/*/b", 'may use "*" only as its final segment'),
        ("/a*", ': segment "a*" has characters a URL path segment cannot hold literally'),
        ("/a b", ': segment "a b" has characters a URL path segment cannot hold literally'),
        ("/u/{ID}", ": segment \"{ID}\" must be {name} with a name of a-z, 0-9 and '_', " + _PARAM_RULE),
        ("/u/{id", ": segment \"{id\" must be {name} with a name of a-z, 0-9 and '_', " + _PARAM_RULE),
        ("/u/{1id}", ": segment \"{1id}\" must be {name} with a name of a-z, 0-9 and '_', " + _PARAM_RULE),
        ("/u/{id}/{id}", "repeats the parameter {id}"),
    ],
)
def test_bad_route_path(project_dir: Path, path: str, problem: str) -> None:
    sep = "" if problem.startswith(":") else " "
    assert (
        only_problem(project_dir, route(path=f'"{path}"'))
        == f'edgefn.toml: [[routes]] #1: path "{path}"{sep}{problem}'
    )


def test_bad_method(project_dir: Path) -> None:
    assert only_problem(project_dir, route(methods='["GET", "FETCH"]')) == (
        "edgefn.toml: [[routes]] #1: methods[2] must be one of GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS, "
        'got "FETCH"'
    )


def test_bad_priority(project_dir: Path) -> None:
    assert only_problem(project_dir, route(priority="1.5")) == (
        "edgefn.toml: [[routes]] #1: priority must be an integer from -2147483648 to 2147483647, got 1.5"
    )


def test_route_unknown_function(project_dir: Path) -> None:
    assert only_problem(project_dir, route(function='"nope"')) == (
        'edgefn.toml: [[routes]] #1: function "nope" is not defined in [[functions]]'
    )


def test_deployment_unknown_function(project_dir: Path) -> None:
    assert only_problem(project_dir, HEAD + HELLO + '[[deployments]]\nfunction = "nope"\n') == (
        'edgefn.toml: [[deployments]] #1: function "nope" is not defined in [[functions]]'
    )


def test_deployment_bad_selector(project_dir: Path) -> None:
    text = HEAD + HELLO + '[[deployments]]\nfunction = "hello"\nselector = "region =="\n'
    assert only_problem(project_dir, text).startswith(
        "edgefn.toml: [[deployments]] #1: selector 'region ==' does not parse at line 1, column 10: "
    )


def test_deployment_empty_selector(project_dir: Path) -> None:
    text = HEAD + HELLO + '[[deployments]]\nfunction = "hello"\nselector = ""\n'
    assert only_problem(project_dir, text) == (
        'edgefn.toml: [[deployments]] #1: selector is empty (use "true" to select every node)'
    )


def test_all_problems_reported_together(project_dir: Path) -> None:
    text = (
        'project = "Demo"\n'
        + HELLO
        + "memory_pages = 0\n"
        + '[[routes]]\npath = "/x"\nfunction = "nope"\n'
        + '[[deployments]]\nfunction = "hello"\nselector = "("\n'
    )
    problems = problems_of(project_dir, text)
    assert [problem.split(": ")[1] for problem in problems] == [
        f'project must be {NAME_RULE}, got "Demo"',
        '[[functions]] #1 "hello"',
        "[[routes]] #1",
        "[[deployments]] #1",
    ]
    error = ProjectError(problems)
    assert str(error) == "\n".join(problems)
