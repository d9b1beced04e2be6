//! Which scripts `--every-loop-twice` needs. That option changes how loops are compiled and
//! nothing else, so a script none of whose modules holds a `loop` compiles to the same code as
//! in the plain run and is left out (of the 148 Wasm 2.0 scripts, 121: 56 of the 58 SIMD ones).

use wast::parser::{self, ParseBuffer};
use wast::{Wast, WastDirective, WastExecute};

/// Whether a module that `text` compiles holds a `loop`. A script or module that cannot be
/// read counts as holding one, so that the run reports what is wrong with it.
pub fn compiles_a_loop(text: &str) -> bool {
    let mut lexer = wast::lexer::Lexer::new(text);
    lexer.allow_confusing_unicode(true);
    let Ok(buf) = ParseBuffer::new_with_lexer(lexer) else {
        return true;
    };
    let Ok(script) = parser::parse::<Wast<'_>>(&buf) else {
        return true;
    };
    for directive in script.directives {
        let wasm = match directive {
            WastDirective::Module(mut module) => module.encode(),
            WastDirective::AssertTrap {
                exec: WastExecute::Wat(mut module),
                ..
            }
            | WastDirective::AssertReturn {
                exec: WastExecute::Wat(mut module),
                ..
            } => module.encode(),
            WastDirective::AssertUnlinkable { mut module, .. } => module.encode(),
            // Modules that must not compile, and directives without a module.
            _ => continue,
        };
        if wasm.map_or(true, |wasm| holds_a_loop(&wasm)) {
            return true;
        }
    }
    false
}

fn holds_a_loop(wasm: &[u8]) -> bool {
    for payload in wasmparser::Parser::new(0).parse_all(wasm) {
        let Ok(payload) = payload else { return true };
        let wasmparser::Payload::CodeSectionEntry(body) = payload else {
            continue;
        };
        let Ok(operators) = body.get_operators_reader() else {
            return true;
        };
        for op in operators {
            match op {
                Ok(wasmparser::Operator::Loop { .. }) | Err(_) => return true,
                Ok(_) => {}
            }
        }
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_scripts_compiling_a_loop_need_it() {
        let straight = r#"(module (func (export "f") (result i32) (i32.const 1)))
            (assert_return (invoke "f") (i32.const 1))
            (assert_invalid (module (func (loop (i32.const 1)))) "type mismatch")"#;
        assert!(
            !compiles_a_loop(straight),
            "a loop only in an invalid module"
        );
        let looped = r#"(module (func (export "f") (block (loop (br 1)))))"#;
        assert!(compiles_a_loop(looped));
        let in_binary = r#"(module binary "\00asm\01\00\00\00\01\04\01\60\00\00\03\02\01\00"
            "\0a\07\01\05\00\03\40\0b\0b")"#;
        assert!(compiles_a_loop(in_binary), "a loop in a binary module");
        let in_trap = r#"(assert_trap (module (func $s (loop (br 0))) (start $s)) "x")"#;
        assert!(compiles_a_loop(in_trap), "a loop in a module that traps");
        assert!(compiles_a_loop("(module"), "unreadable scripts run");
    }
}
