//! Lists the Vulkan adapters wgpu can see and fails when there is none.
//! `cargo xtask test` runs it before the GPU tests so a missing driver
//! (on CI: Mesa's lavapipe, Debian `mesa-vulkan-drivers`) fails loudly.

#[cfg(not(target_arch = "wasm32"))]
fn main() -> std::process::ExitCode {
    let mut desc = wgpu::InstanceDescriptor::new_without_display_handle();
    desc.backends = wgpu::Backends::VULKAN;
    let instance = wgpu::Instance::new(desc);
    let adapters = pollster::block_on(instance.enumerate_adapters(wgpu::Backends::VULKAN));
    for a in &adapters {
        let info = a.get_info();
        println!(
            "{:?} adapter: {} ({:?}, driver {} {})",
            info.backend, info.name, info.device_type, info.driver, info.driver_info
        );
    }
    if adapters.is_empty() {
        eprintln!("no Vulkan adapter found: install Mesa's lavapipe (apt-get install mesa-vulkan-drivers) or a GPU driver");
        return std::process::ExitCode::FAILURE;
    }
    std::process::ExitCode::SUCCESS
}

#[cfg(target_arch = "wasm32")]
fn main() {}
