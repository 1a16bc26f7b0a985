//! The bounded set of `error_type` tag values of a process stage, as
//! `&'static str` (a metric tag is registered from them).

/// `exit_<code>` for every exit status a Unix process can have.
const EXIT: [&str; 256] = [
    "exit_0", "exit_1", "exit_2", "exit_3", "exit_4", "exit_5", "exit_6", "exit_7", "exit_8",
    "exit_9", "exit_10", "exit_11", "exit_12", "exit_13", "exit_14", "exit_15", "exit_16",
    "exit_17", "exit_18", "exit_19", "exit_20", "exit_21", "exit_22", "exit_23", "exit_24",
    "exit_25", "exit_26", "exit_27", "exit_28", "exit_29", "exit_30", "exit_31", "exit_32",
    "exit_33", "exit_34", "exit_35", "exit_36", "exit_37", "exit_38", "exit_39", "exit_40",
    "exit_41", "exit_42", "exit_43", "exit_44", "exit_45", "exit_46", "exit_47", "exit_48",
    "exit_49", "exit_50", "exit_51", "exit_52", "exit_53", "exit_54", "exit_55", "exit_56",
    "exit_57", "exit_58", "exit_59", "exit_60", "exit_61", "exit_62", "exit_63", "exit_64",
    "exit_65", "exit_66", "exit_67", "exit_68", "exit_69", "exit_70", "exit_71", "exit_72",
    "exit_73", "exit_74", "exit_75", "exit_76", "exit_77", "exit_78", "exit_79", "exit_80",
    "exit_81", "exit_82", "exit_83", "exit_84", "exit_85", "exit_86", "exit_87", "exit_88",
    "exit_89", "exit_90", "exit_91", "exit_92", "exit_93", "exit_94", "exit_95", "exit_96",
    "exit_97", "exit_98", "exit_99", "exit_100", "exit_101", "exit_102", "exit_103", "exit_104",
    "exit_105", "exit_106", "exit_107", "exit_108", "exit_109", "exit_110", "exit_111", "exit_112",
    "exit_113", "exit_114", "exit_115", "exit_116", "exit_117", "exit_118", "exit_119", "exit_120",
    "exit_121", "exit_122", "exit_123", "exit_124", "exit_125", "exit_126", "exit_127", "exit_128",
    "exit_129", "exit_130", "exit_131", "exit_132", "exit_133", "exit_134", "exit_135", "exit_136",
    "exit_137", "exit_138", "exit_139", "exit_140", "exit_141", "exit_142", "exit_143", "exit_144",
    "exit_145", "exit_146", "exit_147", "exit_148", "exit_149", "exit_150", "exit_151", "exit_152",
    "exit_153", "exit_154", "exit_155", "exit_156", "exit_157", "exit_158", "exit_159", "exit_160",
    "exit_161", "exit_162", "exit_163", "exit_164", "exit_165", "exit_166", "exit_167", "exit_168",
    "exit_169", "exit_170", "exit_171", "exit_172", "exit_173", "exit_174", "exit_175", "exit_176",
    "exit_177", "exit_178", "exit_179", "exit_180", "exit_181", "exit_182", "exit_183", "exit_184",
    "exit_185", "exit_186", "exit_187", "exit_188", "exit_189", "exit_190", "exit_191", "exit_192",
    "exit_193", "exit_194", "exit_195", "exit_196", "exit_197", "exit_198", "exit_199", "exit_200",
    "exit_201", "exit_202", "exit_203", "exit_204", "exit_205", "exit_206", "exit_207", "exit_208",
    "exit_209", "exit_210", "exit_211", "exit_212", "exit_213", "exit_214", "exit_215", "exit_216",
    "exit_217", "exit_218", "exit_219", "exit_220", "exit_221", "exit_222", "exit_223", "exit_224",
    "exit_225", "exit_226", "exit_227", "exit_228", "exit_229", "exit_230", "exit_231", "exit_232",
    "exit_233", "exit_234", "exit_235", "exit_236", "exit_237", "exit_238", "exit_239", "exit_240",
    "exit_241", "exit_242", "exit_243", "exit_244", "exit_245", "exit_246", "exit_247", "exit_248",
    "exit_249", "exit_250", "exit_251", "exit_252", "exit_253", "exit_254", "exit_255",
];

/// `signal_<n>` for every signal number Linux knows.
const SIGNAL: [&str; 65] = [
    "signal_0",
    "signal_1",
    "signal_2",
    "signal_3",
    "signal_4",
    "signal_5",
    "signal_6",
    "signal_7",
    "signal_8",
    "signal_9",
    "signal_10",
    "signal_11",
    "signal_12",
    "signal_13",
    "signal_14",
    "signal_15",
    "signal_16",
    "signal_17",
    "signal_18",
    "signal_19",
    "signal_20",
    "signal_21",
    "signal_22",
    "signal_23",
    "signal_24",
    "signal_25",
    "signal_26",
    "signal_27",
    "signal_28",
    "signal_29",
    "signal_30",
    "signal_31",
    "signal_32",
    "signal_33",
    "signal_34",
    "signal_35",
    "signal_36",
    "signal_37",
    "signal_38",
    "signal_39",
    "signal_40",
    "signal_41",
    "signal_42",
    "signal_43",
    "signal_44",
    "signal_45",
    "signal_46",
    "signal_47",
    "signal_48",
    "signal_49",
    "signal_50",
    "signal_51",
    "signal_52",
    "signal_53",
    "signal_54",
    "signal_55",
    "signal_56",
    "signal_57",
    "signal_58",
    "signal_59",
    "signal_60",
    "signal_61",
    "signal_62",
    "signal_63",
    "signal_64",
];

/// `exit_<code>`, or `exit_other` outside 0..=255.
pub(crate) fn exit(code: i32) -> &'static str {
    usize::try_from(code)
        .ok()
        .and_then(|c| EXIT.get(c).copied())
        .unwrap_or("exit_other")
}

/// `signal_<n>`, or `signal_other` outside 0..=64.
pub(crate) fn signal(n: i32) -> &'static str {
    usize::try_from(n)
        .ok()
        .and_then(|c| SIGNAL.get(c).copied())
        .unwrap_or("signal_other")
}

#[cfg(test)]
mod tests {
    #[test]
    fn tables_match_their_index() {
        for i in 0..256 {
            assert_eq!(super::exit(i), format!("exit_{i}"));
        }
        for i in 0..65 {
            assert_eq!(super::signal(i), format!("signal_{i}"));
        }
        assert_eq!(super::exit(-1), "exit_other");
        assert_eq!(super::signal(99), "signal_other");
    }
}
