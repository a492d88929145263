use super::exec::label_header;
use super::funcs::*;
use super::*;

fn v(s: &str) -> Value<'static> {
    Value::Str(s.into())
}

#[test]
fn printf_verbs_as_go() {
    // Expected strings as docker v28 printed them.
    assert_eq!(
        sprintf(
            "%-12s|%12s|%.3s|%t",
            &[
                v("i13-tmpl-d"),
                v("i13-tmpl-d"),
                v("i13-tmpl-d"),
                Value::Bool(true)
            ]
        ),
        "i13-tmpl-d  |  i13-tmpl-d|i13|true"
    );
    assert_eq!(sprintf("%d %s", &[]), "%!d(MISSING) %!s(MISSING)");
    assert_eq!(
        sprintf("%s", &[Value::Int(1), Value::Int(2)]),
        "%!s(int=1)%!(EXTRA int=2)"
    );
    assert_eq!(sprintf("%d", &[v("i13-tmpl-c")]), "%!d(string=i13-tmpl-c)");
    assert_eq!(
        sprintf(
            "%6.2f|%-8d|%08.3f|%+d",
            &[
                Value::Float(1.23456),
                Value::Int(42),
                Value::Float(1.23456),
                Value::Int(5)
            ]
        ),
        "  1.23|42      |0001.235|+5"
    );
    assert_eq!(
        sprintf("%v %s", &[Value::Float(1.5), Value::Float(2.0)]),
        "1.5 %!s(float64=2)"
    );
    assert_eq!(
        sprintf(
            "%q|%x",
            &[Value::List(vec!["i13".into(), "tmpl".into()]), v("i1")]
        ),
        "[\"i13\" \"tmpl\"]|6931"
    );
    assert_eq!(sprintf("100%%", &[]), "100%");
}

#[test]
fn text_functions_as_go() {
    assert_eq!(
        go_title("hello wORLD-foo bar_baz"),
        "Hello WORLD-Foo Bar_baz"
    );
    assert_eq!(go_upper("straße"), "STRAßE");
    assert_eq!(go_lower("ÀB"), "àb");
    assert_eq!(label_header("com.example.some-key_x"), "some key x");
    assert_eq!(go_float(1e21), "1e+21");
    assert_eq!(go_float(0.5), "0.5");
}
