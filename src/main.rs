fn main() {
    println!("snapstack {}", snapstack::VERSION);
}
