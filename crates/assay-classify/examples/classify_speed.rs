//! Texts per second of the ported classifiers on a file of texts (one per line), after
//! loading, for `bench/classifiers.sh`. Prints one JSON line per classifier.
//! Usage: classify_speed TEXTS_FILE [REPEATS]

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let path = args
        .next()
        .ok_or("usage: classify_speed TEXTS_FILE [REPEATS]")?;
    let repeats: usize = args.next().map_or(Ok(5), |r| r.parse())?;
    let text = std::fs::read_to_string(&path)?;
    let texts: Vec<&str> = text.lines().collect();
    for catalogued in assay_classify::CLASSIFIERS {
        let classifier = catalogued.ensure(&mut |l| eprintln!("{l}"))?;
        let mut best = f64::INFINITY;
        let mut checksum = 0.0;
        for _ in 0..repeats {
            let start = std::time::Instant::now();
            let p = classifier.predict_many(&texts);
            best = best.min(start.elapsed().as_secs_f64());
            checksum = p.iter().map(|p| classifier.flag_score(p)).sum::<f64>();
        }
        println!(
            "{{\"classifier\": \"{}\", \"texts\": {}, \"best_s\": {best:.6}, \"texts_per_s\": {:.0}, \"mean_flag_score\": {:.6}, \"threads\": {}}}",
            catalogued.name,
            texts.len(),
            texts.len() as f64 / best,
            checksum / texts.len() as f64,
            rayon::current_num_threads()
        );
    }
    Ok(())
}
