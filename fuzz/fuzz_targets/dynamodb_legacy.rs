#![no_main]

use libfuzzer_sys::fuzz_target;

// On a 2 MiB stack, the size of the server's tokio worker threads (libFuzzer's main thread has
// 8 MiB, which would hide a recursion per map entry that overflows in the server).
fuzz_target!(|data: &[u8]| {
    let data = data.to_vec();
    std::thread::Builder::new()
        .stack_size(2 << 20)
        .spawn(move || snapstack::fuzzing::dynamodb_legacy(&data))
        .expect("spawn")
        .join()
        .unwrap_or_else(|p| std::panic::resume_unwind(p));
});
