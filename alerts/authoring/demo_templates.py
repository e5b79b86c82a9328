"""The demo's template library: one template per hazard, written in each of the 12 SMS languages as
its readers would write it (not word for word), with the CAP presets an office would choose.

Latin-script texts avoid characters outside GSM-7 where a natural wording allows it (ç, ê, á…), so
that each message costs a septet per character; Spanish and Portuguese keep the accents their
spelling needs. Placeholders are the same in every language of a template."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class DemoTemplate:
    hazard: str
    name: str
    category: str
    event: str
    urgency: str
    severity: str
    certainty: str
    safety_check: bool
    texts: dict[str, tuple[str, str]] = field(default_factory=dict)  # language → (headline, body)


TEMPLATES: tuple[DemoTemplate, ...] = (
    DemoTemplate(
        "earthquake", "地震：平安确认", "Geo", "地震", "Immediate", "Extreme", "Observed", True, {
            "zh_Hans": ("{place}附近发生强烈地震",
                        "{time}，{place}附近发生强烈地震。请远离建筑物、玻璃幕墙和广告牌，注意防范余震。"
                        "需要协助请联系{station}，或拨打使馆领保电话{mission_phone}。"),
            "zh_Hant": ("{place}附近發生強烈地震",
                        "{time}，{place}附近發生強烈地震。請遠離建築物、玻璃帷幕和招牌，小心餘震。"
                        "需要協助請聯絡{station}，或撥打使館領保電話{mission_phone}。"),
            "en": ("Strong earthquake near {place}",
                   "A strong earthquake struck near {place} at {time}. Keep away from buildings, glass "
                   "and signs, and expect aftershocks. For help: {station}, or the embassy emergency "
                   "line {mission_phone}."),
            "it": ("Forte terremoto vicino a {place}",
                   "Forte scossa di terremoto vicino a {place} ({time}). Stia lontano da edifici, vetrate "
                   "e insegne e si aspetti repliche. Per aiuto: {station}, oppure il numero di emergenza "
                   "dell'ambasciata {mission_phone}."),
            "fr": ("Fort séisme près de {place}",
                   "Un fort séisme a frappé la région de {place} ({time}). Éloignez-vous des immeubles, "
                   "des vitres et des enseignes et attendez-vous à des répliques. Besoin d'aide : "
                   "{station}, ou la ligne d'urgence de l'ambassade {mission_phone}."),
            "es": ("Fuerte terremoto cerca de {place}",
                   "Un fuerte terremoto ha sacudido la zona de {place} ({time}). Aléjese de edificios, "
                   "cristales y carteles y prepárese para posibles réplicas. Si necesita ayuda: "
                   "{station}, o el teléfono de emergencia de la embajada {mission_phone}."),
            "de": ("Starkes Erdbeben bei {place}",
                   "Ein starkes Erdbeben hat die Gegend um {place} erschüttert ({time}). Halten Sie "
                   "Abstand zu Gebäuden, Glas und Schildern und rechnen Sie mit Nachbeben. Hilfe: "
                   "{station} oder der Notruf der Botschaft {mission_phone}."),
            "pt": ("Sismo forte perto de {place}",
                   "Um sismo forte atingiu a zona de {place} ({time}). Afaste-se de edifícios, vidros e "
                   "placares e conte com réplicas. Se precisar de ajuda: {station}, ou a linha de "
                   "emergência da embaixada {mission_phone}."),
            "ru": ("Сильное землетрясение у {place}",
                   "{time} в районе {place} произошло сильное землетрясение. Держитесь подальше от "
                   "зданий, стёкол и вывесок, возможны повторные толчки. Помощь: {station}, "
                   "экстренный телефон посольства {mission_phone}."),
            "ja": ("{place}付近で強い地震",
                   "{time}、{place}付近で強い地震が発生しました。建物やガラス、看板から離れ、余震に注意して"
                   "ください。支援が必要な場合は{station}、または大使館の緊急電話{mission_phone}へ。"),
            "ko": ("{place} 인근 강진 발생",
                   "{time} {place} 인근에서 강한 지진이 발생했습니다. 건물·유리창·간판에서 떨어지고 "
                   "여진에 대비하십시오. 도움이 필요하면 {station} 또는 대사관 긴급전화 {mission_phone}."),
            "ar": ("زلزال قوي قرب {place}",
                   "ضرب زلزال قوي منطقة {place} ({time}). ابتعدوا عن المباني والزجاج واللافتات وتوقعوا "
                   "هزات ارتدادية. للمساعدة: {station}، أو هاتف الطوارئ في السفارة {mission_phone}."),
        }),
    DemoTemplate(
        "flood_typhoon", "台风、暴雨与洪水", "Met", "台风/洪水", "Expected", "Severe", "Likely", False, {
            "zh_Hans": ("{place}将受台风或强降雨影响",
                        "{place}未来一两天可能出现台风、强降雨和洪水。请减少外出，远离河道、低洼地和地下空间，"
                        "备好饮水、食物和充电宝，听从当地政府指示。紧急情况请拨打使馆领保电话{mission_phone}。"),
            "zh_Hant": ("{place}將受颱風或強降雨影響",
                        "{place}未來一兩天可能出現颱風、豪雨和洪水。請減少外出，遠離河道、低窪地和地下空間，"
                        "備妥飲水、食物和行動電源，聽從當地政府指示。緊急情況請撥打使館領保電話{mission_phone}。"),
            "en": ("Storm and flood warning for {place}",
                   "A typhoon or heavy rain may bring floods to {place} in the next day or two. Stay "
                   "indoors where you can, keep away from rivers, low ground and basements, keep water, "
                   "food and a charged phone, and follow the local authorities. Emergency: "
                   "{mission_phone}."),
            "it": ("Allerta maltempo e alluvioni a {place}",
                   "Nelle prossime 24-48 ore a {place} sono possibili forti piogge e alluvioni. Limiti "
                   "gli spostamenti, stia lontano da fiumi, sottopassi e scantinati, tenga pronti acqua, "
                   "cibo e telefono carico e segua le indicazioni della Protezione civile. Emergenze: "
                   "{mission_phone}."),
            "fr": ("Alerte orages et inondations à {place}",
                   "Fortes pluies et risque d'inondation à {place} dans les prochaines 48 heures. "
                   "Limitez vos déplacements, éloignez-vous des cours d'eau, des zones basses et des "
                   "sous-sols, gardez eau, nourriture et téléphone chargé, suivez les consignes des "
                   "autorités. Urgence : {mission_phone}."),
            "es": ("Alerta por temporal e inundaciones en {place}",
                   "En las próximas 48 horas puede haber lluvias fuertes e inundaciones en {place}. "
                   "Evite desplazamientos, aléjese de ríos, zonas bajas y sótanos, tenga agua, comida y "
                   "el móvil cargado y siga las indicaciones de las autoridades. Emergencias: "
                   "{mission_phone}."),
            "de": ("Unwetter- und Hochwasserwarnung für {place}",
                   "In den nächsten 48 Stunden drohen in {place} Starkregen und Hochwasser. Bleiben Sie "
                   "möglichst drinnen, meiden Sie Flüsse, Senken und Keller, halten Sie Wasser, "
                   "Lebensmittel und ein geladenes Handy bereit und folgen Sie den Behörden. Notfall: "
                   "{mission_phone}."),
            "pt": ("Aviso de tempestade e cheias em {place}",
                   "Nas próximas 48 horas pode haver chuva forte e cheias em {place}. Evite deslocações, "
                   "afaste-se de rios, zonas baixas e caves, tenha água, comida e o telemóvel carregado e "
                   "siga as indicações das autoridades. Emergência: {mission_phone}."),
            "ru": ("Штормовое предупреждение: {place}",
                   "В ближайшие 1–2 дня в {place} возможны тайфун, ливни и наводнения. Без необходимости "
                   "не выходите, держитесь подальше от рек, низин и подвалов, запасите воду, еду и "
                   "зарядите телефон, следуйте указаниям властей. Экстренная связь: {mission_phone}."),
            "ja": ("{place}に台風・大雨のおそれ",
                   "{place}では今後1～2日、台風や大雨による洪水のおそれがあります。不要な外出を控え、川や"
                   "低地、地下から離れ、水・食料・充電を確保し、現地当局の指示に従ってください。"
                   "緊急時：{mission_phone}"),
            "ko": ("{place} 태풍·호우 주의",
                   "앞으로 1~2일간 {place}에 태풍과 폭우로 홍수가 우려됩니다. 외출을 자제하고 하천·저지대·"
                   "지하 공간을 피하며, 물과 식량, 휴대전화 충전을 준비하고 현지 당국의 안내를 따르십시오. "
                   "긴급 연락처: {mission_phone}"),
            "ar": ("تحذير من عاصفة وفيضانات في {place}",
                   "قد تشهد {place} خلال اليومين المقبلين إعصاراً وأمطاراً غزيرة وفيضانات. قلّلوا التنقل، "
                   "وابتعدوا عن الأنهار والمناطق المنخفضة والأقبية، واحتفظوا بالماء والطعام وهاتف مشحون، "
                   "واتبعوا تعليمات السلطات. للطوارئ: {mission_phone}"),
        }),
    DemoTemplate(
        "fire", "火灾：平安确认", "Fire", "火灾", "Immediate", "Severe", "Observed", True, {
            "zh_Hans": ("{place}发生火灾",
                        "{place}发生较大火灾。附近人员请听从消防指挥立即撤离，用湿布捂住口鼻，不要返回取物。"
                        "需要协助请联系{station}。"),
            "zh_Hant": ("{place}發生火災",
                        "{place}發生嚴重火災。附近人員請聽從消防指揮立即撤離，用濕布摀住口鼻，不要返回取物。"
                        "需要協助請聯絡{station}。"),
            "en": ("Major fire in {place}",
                   "A major fire is burning in {place}. If you are nearby, leave now as firefighters "
                   "direct, cover your nose and mouth with a wet cloth and do not go back for "
                   "belongings. For help: {station}."),
            "it": ("Grave incendio a {place}",
                   "Un grave incendio è in corso a {place}. Se si trova nelle vicinanze si allontani "
                   "subito seguendo le indicazioni dei vigili del fuoco, si copra naso e bocca con un "
                   "panno bagnato e non torni indietro. Per aiuto: {station}."),
            "fr": ("Incendie important à {place}",
                   "Un incendie important est en cours à {place}. Si vous vous trouvez à proximité, évacuez "
                   "tout de suite en suivant les pompiers, couvrez-vous le nez et la bouche d'un linge "
                   "humide et ne revenez pas chercher vos affaires. Aide : {station}."),
            "es": ("Incendio grave en {place}",
                   "Hay un incendio grave en {place}. Si está cerca, salga ya siguiendo las indicaciones "
                   "de los bomberos, cúbrase nariz y boca con un paño húmedo y no vuelva a por sus "
                   "cosas. Ayuda: {station}."),
            "de": ("Großbrand in {place}",
                   "In {place} ist ein Großbrand ausgebrochen. Wenn Sie in der Nähe sind, verlassen Sie "
                   "den Bereich sofort nach Anweisung der Feuerwehr, atmen Sie durch ein nasses Tuch und "
                   "gehen Sie nicht zurück. Hilfe: {station}."),
            "pt": ("Incêndio grave em {place}",
                   "Há um incêndio grave em {place}. Se estiver perto, saia já seguindo as indicações dos "
                   "bombeiros, cubra o nariz e a boca com um pano húmido e não volte atrás para buscar "
                   "nada. Ajuda: {station}."),
            "ru": ("Крупный пожар: {place}",
                   "В {place} крупный пожар. Если вы рядом, немедленно уходите по указаниям пожарных, "
                   "закройте нос и рот влажной тканью, не возвращайтесь за вещами. Помощь: {station}."),
            "ja": ("{place}で大規模火災",
                   "{place}で大規模な火災が発生しています。近くにいる方は消防の指示に従ってすぐに避難し、"
                   "濡れた布で鼻と口を覆い、荷物を取りに戻らないでください。支援：{station}"),
            "ko": ("{place} 대형 화재",
                   "{place}에서 대형 화재가 발생했습니다. 근처에 계신 분은 소방관 안내에 따라 즉시 대피하고, "
                   "젖은 천으로 코와 입을 가리며 물건을 가지러 돌아가지 마십시오. 도움: {station}"),
            "ar": ("حريق كبير في {place}",
                   "اندلع حريق كبير في {place}. إن كنتم قريبين فغادروا فوراً باتباع توجيهات رجال الإطفاء، "
                   "وغطّوا الأنف والفم بقطعة قماش مبللة، ولا تعودوا لأخذ أغراضكم. للمساعدة: {station}"),
        }),
    DemoTemplate(
        "unrest", "游行示威与社会动荡", "Security", "社会动荡", "Expected", "Severe", "Likely", False, {
            "zh_Hans": ("{place}近期有游行示威，请注意安全",
                        "{place}近期将有大规模游行示威，可能发生冲突。请避开集会地点和警方封锁区域，不围观、"
                        "不拍摄、不参与，夜间减少外出，随身携带证件。如遇紧急情况请拨打使馆领保电话"
                        "{mission_phone}。"),
            "zh_Hant": ("{place}近期有遊行示威，請注意安全",
                        "{place}近期將有大規模遊行示威，可能發生衝突。請避開集會地點和警方封鎖區域，不圍觀、"
                        "不拍攝、不參與，夜間減少外出，隨身攜帶證件。如遇緊急情況請撥打使館領保電話"
                        "{mission_phone}。"),
            "en": ("Protests expected in {place}",
                   "Large protests are expected in {place} and may turn violent. Avoid gatherings and "
                   "police cordons, do not watch, film or join in, limit going out at night and carry "
                   "your ID. Emergency: {mission_phone}."),
            "it": ("Manifestazioni previste a {place}",
                   "Sono previste grandi manifestazioni a {place}, con possibili scontri. Eviti cortei "
                   "e zone transennate, non si fermi a guardare o filmare, limiti le uscite serali e "
                   "porti con sé un documento. Emergenze: {mission_phone}."),
            "fr": ("Manifestations attendues à {place}",
                   "D'importantes manifestations sont attendues à {place} et pourraient dégénérer. "
                   "Évitez les rassemblements et les cordons de police, ne filmez pas, limitez vos "
                   "sorties le soir et gardez une pièce d'identité sur vous. Urgence : {mission_phone}."),
            "es": ("Protestas previstas en {place}",
                   "Se esperan grandes protestas en {place}, con riesgo de disturbios. Evite las "
                   "concentraciones y los cordones policiales, no se quede a mirar ni grabe, salga lo "
                   "menos posible de noche y lleve su documentación. Emergencias: {mission_phone}."),
            "de": ("Proteste in {place} erwartet",
                   "In {place} werden große Proteste erwartet, Ausschreitungen sind möglich. Meiden "
                   "Sie Kundgebungen und Absperrungen, filmen Sie nicht, gehen Sie abends wenig aus und "
                   "tragen Sie Ihren Ausweis bei sich. Notfall: {mission_phone}."),
            "pt": ("Protestos previstos em {place}",
                   "Estão previstos grandes protestos em {place}, com risco de confrontos. Evite "
                   "concentrações e cordões policiais, não fique a ver nem a filmar, saia o menos "
                   "possível à noite e traga o documento de identificação. Emergência: {mission_phone}."),
            "ru": ("Ожидаются протесты: {place}",
                   "В {place} ожидаются массовые протесты, возможны столкновения. Избегайте митингов и "
                   "оцеплений, не снимайте и не участвуйте, реже выходите вечером, держите документы "
                   "при себе. Экстренная связь: {mission_phone}."),
            "ja": ("{place}で大規模デモの予定",
                   "{place}で大規模なデモが予定されており、衝突のおそれがあります。集会場所や警察の規制区域に"
                   "近づかず、見物・撮影・参加は控え、夜間の外出を減らし、身分証を携帯してください。"
                   "緊急時：{mission_phone}"),
            "ko": ("{place} 대규모 시위 예정",
                   "{place}에서 대규모 시위가 예정되어 있으며 충돌 가능성이 있습니다. 집회 장소와 경찰 통제 "
                   "구역을 피하고, 구경·촬영·참여를 삼가며, 야간 외출을 줄이고 신분증을 휴대하십시오. "
                   "긴급 연락처: {mission_phone}"),
            "ar": ("احتجاجات متوقعة في {place}",
                   "يُتوقع تنظيم احتجاجات واسعة في {place} قد تتخللها مواجهات. تجنّبوا التجمعات والطوق "
                   "الأمني، ولا تصوّروا أو تشاركوا، وقلّلوا الخروج ليلاً، واحملوا وثائقكم. للطوارئ: "
                   "{mission_phone}"),
        }),
    DemoTemplate(
        "attack", "恐怖袭击：平安确认", "Security", "恐怖袭击", "Immediate", "Extreme", "Observed", True, {
            "zh_Hans": ("{place}发生袭击事件",
                        "{time}，{place}发生袭击事件。请立即远离现场，就近躲避在安全室内，不要聚集围观，"
                        "听从警方指令。如需协助请拨打使馆领保电话{mission_phone}。"),
            "zh_Hant": ("{place}發生襲擊事件",
                        "{time}，{place}發生襲擊事件。請立即遠離現場，就近躲避於安全室內，不要聚集圍觀，"
                        "聽從警方指令。如需協助請撥打使館領保電話{mission_phone}。"),
            "en": ("Attack in {place}",
                   "An attack took place in {place} at {time}. Leave the area at once, shelter indoors "
                   "nearby, do not gather to watch, and follow police instructions. For help: "
                   "{mission_phone}."),
            "it": ("Attacco a {place}",
                   "Attacco in corso a {place} ({time}). Si allontani subito dalla zona, si ripari nel "
                   "luogo chiuso più vicino, non si fermi a guardare e segua le istruzioni della polizia. "
                   "Per aiuto: {mission_phone}."),
            "fr": ("Attaque à {place}",
                   "Une attaque a eu lieu à {place} ({time}). Quittez immédiatement les lieux, "
                   "abritez-vous dans un lieu clos proche, ne restez pas à regarder et suivez les "
                   "consignes de la police. Aide : {mission_phone}."),
            "es": ("Ataque en {place}",
                   "Se ha producido un ataque en {place} ({time}). Aléjese de inmediato, refúgiese en un "
                   "lugar cerrado cercano, no se quede a mirar y siga las instrucciones de la policía. "
                   "Ayuda: {mission_phone}."),
            "de": ("Anschlag in {place}",
                   "In {place} hat es einen Anschlag gegeben ({time}). Verlassen Sie sofort die Gegend, "
                   "suchen Sie Schutz in einem Gebäude, bleiben Sie nicht stehen und folgen Sie den "
                   "Anweisungen der Polizei. Hilfe: {mission_phone}."),
            "pt": ("Ataque em {place}",
                   "Ocorreu um ataque em {place} ({time}). Afaste-se imediatamente, abrigue-se num local "
                   "fechado próximo, não fique a ver e siga as instruções da polícia. Ajuda: "
                   "{mission_phone}."),
            "ru": ("Нападение: {place}",
                   "{time} в {place} произошло нападение. Немедленно покиньте район, укройтесь в "
                   "ближайшем здании, не собирайтесь толпой, выполняйте указания полиции. Помощь: "
                   "{mission_phone}."),
            "ja": ("{place}で襲撃事件",
                   "{time}、{place}で襲撃事件が発生しました。直ちに現場から離れ、近くの建物内に避難し、"
                   "見物せず、警察の指示に従ってください。支援：{mission_phone}"),
            "ko": ("{place} 테러 공격 발생",
                   "{time} {place}에서 공격 사건이 발생했습니다. 즉시 현장을 벗어나 가까운 실내로 대피하고, "
                   "모여서 구경하지 말고 경찰 지시에 따르십시오. 도움: {mission_phone}"),
            "ar": ("هجوم في {place}",
                   "وقع هجوم في {place} ({time}). غادروا المنطقة فوراً، واحتموا في أقرب مكان مغلق، ولا "
                   "تتجمعوا للمشاهدة، واتبعوا تعليمات الشرطة. للمساعدة: {mission_phone}"),
        }),
    DemoTemplate(
        "epidemic", "传染病疫情", "Health", "传染病疫情", "Expected", "Moderate", "Likely", False, {
            "zh_Hans": ("{place}传染病疫情提醒",
                        "{place}近期传染病病例增加。请勤洗手，在人群密集场所佩戴口罩，出现发热等症状及时就医，"
                        "并关注当地卫生部门通告。咨询可拨打领保热线{hotline}。"),
            "zh_Hant": ("{place}傳染病疫情提醒",
                        "{place}近期傳染病病例增加。請勤洗手，在人潮擁擠處配戴口罩，出現發燒等症狀及時就醫，"
                        "並留意當地衛生部門公告。諮詢可撥打領保熱線{hotline}。"),
            "en": ("Disease outbreak in {place}",
                   "Cases of an infectious disease are rising in {place}. Wash your hands often, wear a "
                   "mask in crowded places, see a doctor if you have a fever, and follow local health "
                   "advice. Questions: {hotline}."),
            "it": ("Focolaio di malattia infettiva a {place}",
                   "A {place} aumentano i casi di una malattia infettiva. Si lavi spesso le mani, usi la "
                   "mascherina nei luoghi affollati, in caso di febbre contatti un medico e segua le "
                   "indicazioni sanitarie locali. Informazioni: {hotline}."),
            "fr": ("Épidémie à {place}",
                   "Les cas d'une maladie infectieuse augmentent à {place}. Lavez-vous souvent les "
                   "mains, portez un masque dans la foule, consultez un médecin en cas de fièvre et "
                   "suivez les consignes sanitaires locales. Questions : {hotline}."),
            "es": ("Brote epidémico en {place}",
                   "Aumentan los casos de una enfermedad infecciosa en {place}. Lávese las manos a "
                   "menudo, use mascarilla en lugares concurridos, acuda al médico si tiene fiebre y "
                   "siga las indicaciones sanitarias. Consultas: {hotline}."),
            "de": ("Krankheitsausbruch in {place}",
                   "In {place} steigen die Fälle einer ansteckenden Krankheit. Waschen Sie oft die "
                   "Hände, tragen Sie im Gedränge eine Maske, gehen Sie bei Fieber zum Arzt und folgen "
                   "Sie den Gesundheitsbehörden. Fragen: {hotline}."),
            "pt": ("Surto de doença em {place}",
                   "Os casos de uma doença infecciosa estão a aumentar em {place}. Lave as mãos com "
                   "frequência, use máscara em locais cheios, procure um médico se tiver febre e siga "
                   "as indicações de saúde locais. Dúvidas: {hotline}."),
            "ru": ("Вспышка инфекции: {place}",
                   "В {place} растёт число случаев инфекционного заболевания. Чаще мойте руки, носите "
                   "маску в людных местах, при температуре обратитесь к врачу и следите за указаниями "
                   "местных властей. Справки: {hotline}."),
            "ja": ("{place}で感染症が流行",
                   "{place}で感染症の患者が増えています。こまめに手を洗い、人混みではマスクを着用し、発熱など"
                   "の症状があれば早めに受診し、現地保健当局の情報を確認してください。相談：{hotline}"),
            "ko": ("{place} 감염병 유행 주의",
                   "{place}에서 감염병 환자가 늘고 있습니다. 손을 자주 씻고 "
                   "혼잡한 곳에서는 마스크를 착용하며, 발열 등 증상이 있으면 바로 "
                   "진료를 받고 현지 보건당국 안내를 확인하십시오. 문의: {hotline}"),
            "ar": ("تفشٍّ وبائي في {place}",
                   "تتزايد حالات مرض معدٍ في {place}. اغسلوا أيديكم باستمرار، وارتدوا الكمامة في الأماكن "
                   "المزدحمة، وراجعوا الطبيب عند الحمى، واتبعوا تعليمات السلطات الصحية. للاستفسار: "
                   "{hotline}"),
        }),
    DemoTemplate(
        "transport_accident", "交通事故：平安确认", "Transport", "重大交通事故", "Immediate", "Severe",
        "Observed", True, {
            "zh_Hans": ("{place}发生重大交通事故",
                        "{time}，{place}发生重大交通事故。如您乘坐相关航班、列车或车辆，或有亲友在内，"
                        "请尽快报平安；需要协助请拨打使馆领保电话{mission_phone}。"),
            "zh_Hant": ("{place}發生重大交通事故",
                        "{time}，{place}發生重大交通事故。如您搭乘相關航班、列車或車輛，或有親友在內，"
                        "請盡快報平安；需要協助請撥打使館領保電話{mission_phone}。"),
            "en": ("Serious transport accident near {place}",
                   "A serious accident involving transport happened near {place} at {time}. If you or "
                   "someone close to you was on board, please tell us you are safe. For help: "
                   "{mission_phone}."),
            "it": ("Grave incidente vicino a {place}",
                   "Grave incidente nei trasporti vicino a {place} ({time}). Se lei o un suo familiare "
                   "era a bordo, ci faccia sapere come sta. Per aiuto: {mission_phone}."),
            "fr": ("Grave accident près de {place}",
                   "Un grave accident de transport s'est produit près de {place} ({time}). Si vous ou "
                   "un proche étiez à bord, dites-nous si vous allez bien. Aide : {mission_phone}."),
            "es": ("Grave accidente cerca de {place}",
                   "Se ha producido un grave accidente de transporte cerca de {place} ({time}). Si usted "
                   "o un familiar viajaba en él, díganos si se encuentra bien. Ayuda: {mission_phone}."),
            "de": ("Schweres Unglück bei {place}",
                   "Bei {place} hat sich ein schweres Verkehrsunglück ereignet ({time}). Wenn Sie oder "
                   "Angehörige an Bord waren, geben Sie uns bitte Bescheid. Hilfe: {mission_phone}."),
            "pt": ("Acidente grave perto de {place}",
                   "Ocorreu um acidente grave de transporte perto de {place} ({time}). Se estava a bordo, "
                   "ou um familiar seu, diga-nos se está bem. Ajuda: {mission_phone}."),
            "ru": ("Крупная авария: {place}",
                   "{time} у {place} произошла крупная транспортная авария. Если вы или ваши близкие "
                   "были там, сообщите, что вы в порядке. Помощь: {mission_phone}."),
            "ja": ("{place}付近で重大な交通事故",
                   "{time}、{place}付近で重大な交通事故が発生しました。ご本人やご家族が乗っていた場合は、"
                   "安否をお知らせください。支援：{mission_phone}"),
            "ko": ("{place} 인근 대형 교통사고",
                   "{time} {place} 인근에서 대형 교통사고가 발생했습니다. 본인이나 가족이 탑승했다면 안부를 "
                   "알려 주십시오. 도움: {mission_phone}"),
            "ar": ("حادث نقل خطير قرب {place}",
                   "وقع حادث نقل خطير قرب {place} ({time}). إن كنتم أو أحد أقاربكم على متنه، فطمئنونا "
                   "على سلامتكم. للمساعدة: {mission_phone}"),
        }),
    DemoTemplate(
        "scam", "防范电信诈骗", "Safety", "电信诈骗", "Expected", "Moderate", "Likely", False, {
            "zh_Hans": ("警惕冒充使馆、警方的电信诈骗",
                        "近期有不法分子冒充使领馆、国内公检法人员致电，以“涉嫌洗钱”“包裹违禁”等为由要求转账。"
                        "使领馆和警方从不通过电话要求转账。请挂断电话，拨打使馆电话{mission_phone}或领保热线"
                        "{hotline}核实。"),
            "zh_Hant": ("慎防冒充使館、警方的電話詐騙",
                        "近期有不法分子冒充使領館及國內公檢法人員來電，以「涉嫌洗錢」「包裹違禁」等為由要求匯款。"
                        "使領館和警方從不透過電話要求匯款。請掛斷電話，撥打使館電話{mission_phone}或領保熱線"
                        "{hotline}查證。"),
            "en": ("Beware of calls from fake embassy officials",
                   "Fraudsters are calling people, posing as embassy staff or Chinese police, and "
                   "asking for money transfers over a \"money-laundering case\" or a \"seized parcel\". "
                   "The embassy and the police never ask for money by phone. Hang up and check with "
                   "{mission_phone} or {hotline}."),
            "it": ("Attenzione alle truffe telefoniche",
                   "Alcuni truffatori telefonano fingendosi funzionari dell'ambasciata o della polizia "
                   "cinese e chiedono bonifici per un presunto riciclaggio o un pacco sequestrato. "
                   "Ambasciata e polizia non chiedono mai denaro al telefono. Riattacchi e verifichi al "
                   "{mission_phone} o al {hotline}."),
            "fr": ("Attention aux faux appels de l'ambassade",
                   "Des escrocs appellent en se faisant passer pour l'ambassade ou la police chinoise et "
                   "exigent un virement pour un prétendu blanchiment ou colis saisi. L'ambassade et la "
                   "police ne demandent jamais d'argent par téléphone. Raccrochez et vérifiez au "
                   "{mission_phone} ou au {hotline}."),
            "es": ("Cuidado con las estafas telefónicas",
                   "Hay estafadores que llaman haciéndose pasar por la embajada o la policía china y "
                   "piden transferencias por un supuesto blanqueo o un paquete retenido. La embajada y "
                   "la policía nunca piden dinero por teléfono. Cuelgue y compruébelo en el "
                   "{mission_phone} o el {hotline}."),
            "de": ("Vorsicht vor falschen Botschaftsanrufen",
                   "Betrüger geben sich am Telefon als Botschaft oder chinesische Polizei aus und "
                   "verlangen Überweisungen wegen angeblicher Geldwäsche oder eines Pakets. Botschaft "
                   "und Polizei fordern nie Geld am Telefon. Legen Sie auf und fragen Sie nach: "
                   "{mission_phone} oder {hotline}."),
            "pt": ("Cuidado com burlas telefónicas",
                   "Há burlões a telefonar fazendo-se passar pela embaixada ou pela polícia chinesa e a "
                   "pedir transferências por um suposto branqueamento ou encomenda apreendida. A "
                   "embaixada e a polícia nunca pedem dinheiro por telefone. Desligue e confirme pelo "
                   "{mission_phone} ou {hotline}."),
            "ru": ("Осторожно: мошенники от имени посольства",
                   "Мошенники звонят под видом сотрудников посольства или полиции Китая и требуют "
                   "перевести деньги из-за «отмывания денег» или «задержанной посылки». Посольство и "
                   "полиция никогда не просят денег по телефону. Положите трубку и проверьте: "
                   "{mission_phone} или {hotline}."),
            "ja": ("大使館や警察をかたる詐欺電話に注意",
                   "大使館職員や中国の警察を名乗り、「マネーロンダリングの疑い」「違法な荷物」などを理由に送金を"
                   "求める詐欺電話が増えています。大使館や警察が電話で送金を求めることはありません。電話を切り、"
                   "{mission_phone}または{hotline}で確認してください。"),
            "ko": ("대사관·경찰 사칭 전화사기 주의",
                   "대사관 직원이나 중국 경찰을 사칭해 '돈세탁 연루', '불법 소포' "
                   "등을 이유로 송금을 요구하는 "
                   "사기 전화가 늘고 있습니다. 대사관과 경찰은 전화로 송금을 요구하지 않습니다. 전화를 끊고 "
                   "{mission_phone} 또는 {hotline}로 확인하십시오."),
            "ar": ("احذروا الاتصالات الاحتيالية باسم السفارة",
                   "ينتحل محتالون صفة موظفي السفارة أو الشرطة الصينية ويطلبون تحويل أموال بحجة «غسل أموال» "
                   "أو «طرد محجوز». السفارة والشرطة لا تطلبان المال عبر الهاتف أبداً. أنهوا المكالمة وتحققوا "
                   "عبر {mission_phone} أو {hotline}."),
        }),
    DemoTemplate(
        "holiday_travel", "节前出行安全提醒", "Safety", "节假日出行提醒", "Future", "Minor", "Likely",
        False, {
            "zh_Hans": ("节日出行安全提醒",
                        "节日将至，出行前请查看目的地安全提示，购买旅行保险，保管好护照和财物，不要将证件交给他人，"
                        "警惕“低价游”和陌生人搭讪。遇到困难请拨打领保热线{hotline}。祝您节日平安！"),
            "zh_Hant": ("節日出行安全提醒",
                        "節日將至，出行前請查看目的地安全提示，購買旅遊保險，保管好護照和財物，不要將證件交給他人，"
                        "慎防「低價團」和陌生人搭訕。遇到困難請撥打領保熱線{hotline}。祝您節日平安！"),
            "en": ("Travelling for the holidays? Stay safe",
                   "Before you travel, check the safety advice for where you are going, buy travel "
                   "insurance, keep your passport and money safe, never hand your documents to others, "
                   "and be wary of cheap tours and friendly strangers. In trouble: {hotline}. Happy "
                   "holidays!"),
            "it": ("In viaggio per le feste? Buon viaggio sicuro",
                   "Prima di partire controlli gli avvisi di sicurezza sulla destinazione, stipuli "
                   "un'assicurazione di viaggio, custodisca passaporto e denaro, non consegni i documenti "
                   "a nessuno e diffidi di viaggi troppo economici. In difficoltà: {hotline}. Buone feste!"),
            "fr": ("En voyage pendant les vacances ? Prudence",
                   "Avant de partir, consultez les conseils de sécurité pour votre destination, prenez "
                   "une assurance voyage, gardez passeport et argent à l'abri, ne confiez vos papiers "
                   "à personne et méfiez-vous des voyages à prix cassés. En difficulté : {hotline}. "
                   "Bonnes vacances !"),
            "es": ("¿Viaja en las fiestas? Viaje seguro",
                   "Antes de salir, consulte las recomendaciones de seguridad del destino, contrate un "
                   "seguro de viaje, guarde bien el pasaporte y el dinero, no entregue sus documentos a "
                   "nadie y desconfíe de los viajes demasiado baratos. Si tiene problemas: {hotline}. "
                   "¡Felices fiestas!"),
            "de": ("Reisen über die Feiertage? Sicher ankommen",
                   "Lesen Sie vor der Reise die Sicherheitshinweise für Ihr Ziel, schließen Sie eine "
                   "Reiseversicherung ab, verwahren Sie Pass und Geld sicher, geben Sie Ihre Papiere nie "
                   "aus der Hand und meiden Sie Billigreisen. In Not: {hotline}. Schöne Feiertage!"),
            "pt": ("Vai viajar nas festas? Viaje em segurança",
                   "Antes de partir, veja os conselhos de segurança para o destino, faça um seguro de "
                   "viagem, guarde bem o passaporte e o dinheiro, não entregue os documentos a ninguém e "
                   "desconfie de viagens baratas demais. Em apuros: {hotline}. Boas festas!"),
            "ru": ("Едете на праздники? Будьте осторожны",
                   "Перед поездкой узнайте о мерах безопасности в месте назначения, оформите страховку, "
                   "берегите паспорт и деньги, никому не отдавайте документы и остерегайтесь слишком "
                   "дешёвых туров. Если нужна помощь: {hotline}. С праздником!"),
            "ja": ("連休の旅行は安全第一で",
                   "出発前に渡航先の安全情報を確認し、旅行保険に加入し、パスポートと現金をしっかり管理してください。"
                   "書類を他人に渡さず、格安ツアーや見知らぬ人の誘いに注意を。困ったときは{hotline}へ。"
                   "よい休日を！"),
            "ko": ("명절 여행, 안전하게 다녀오세요",
                   "출발 전 목적지의 안전 정보를 확인하고 여행자 보험에 가입하며, "
                   "여권과 현금을 잘 보관하십시오. "
                   "신분증을 남에게 맡기지 말고 지나치게 싼 여행 상품과 낯선 사람의 접근을 경계하십시오. "
                   "어려움이 있으면 {hotline}. 즐거운 명절 보내세요!"),
            "ar": ("مسافرون في العطلة؟ سافروا بأمان",
                   "قبل السفر، اطلعوا على إرشادات السلامة الخاصة بوجهتكم، "
                   "واشتروا تأمين سفر، واحفظوا جوازاتكم "
                   "وأموالكم، ولا تسلّموا وثائقكم لأحد، واحذروا الرحلات الرخيصة جداً. عند الحاجة: {hotline}. "
                   "عطلة سعيدة!"),
        }),
    DemoTemplate(
        "student_season", "留学生开学季安全提醒", "Safety", "开学季安全提醒", "Future", "Minor",
        "Likely", False, {
            "zh_Hans": ("开学季安全提醒",
                        "欢迎新同学！请尽快在学校和当地完成注册，保管好护照和居留文件，租房要签正式合同，"
                        "警惕冒充使馆、警方的诈骗电话，夜间结伴出行。当地服务站：{station}；领保热线：{hotline}。"),
            "zh_Hant": ("開學季安全提醒",
                        "歡迎新同學！請盡快在學校和當地完成註冊，保管好護照和居留文件，租屋要簽正式合約，"
                        "慎防冒充使館、警方的詐騙電話，夜間結伴出行。當地服務站：{station}；領保熱線：{hotline}。"),
            "en": ("Starting your studies abroad? Stay safe",
                   "Welcome! Register with your school and the local authorities soon, keep your "
                   "passport and residence papers safe, sign a proper lease, beware of calls from fake "
                   "embassy or police officials, and go out in company at night. Local station: "
                   "{station}. Hotline: {hotline}."),
            "it": ("Inizio dell'anno accademico: consigli utili",
                   "Benvenuto! Si iscriva presto all'università e presso le autorità locali, custodisca "
                   "passaporto e permesso di soggiorno, firmi un contratto d'affitto regolare, diffidi di "
                   "chi chiama fingendosi ambasciata o polizia e la sera esca in compagnia. Punto di "
                   "assistenza: {station}. Linea diretta: {hotline}."),
            "fr": ("Rentrée universitaire : quelques conseils",
                   "Bienvenue ! Inscrivez-vous vite auprès de votre école et des autorités locales, "
                   "gardez passeport et titre de séjour à l'abri, signez un vrai bail, méfiez-vous des "
                   "faux appels de l'ambassade ou de la police et sortez accompagné le soir. Point "
                   "d'accueil : {station}. Ligne d'urgence : {hotline}."),
            "es": ("Inicio de curso: estudie seguro",
                   "¡Bienvenido! Inscríbase pronto en su centro y ante las autoridades locales, guarde "
                   "bien el pasaporte y la tarjeta de residencia, firme un contrato de alquiler en regla, "
                   "desconfíe de llamadas de falsos funcionarios y salga acompañado de noche. Punto de "
                   "atención: {station}. Línea 24 h: {hotline}."),
            "de": ("Studienbeginn im Ausland: sicher starten",
                   "Willkommen! Melden Sie sich bald an der Hochschule und bei den Behörden an, "
                   "verwahren Sie Pass und Aufenthaltstitel sicher, unterschreiben Sie einen richtigen "
                   "Mietvertrag, misstrauen Sie Anrufen falscher Beamter und gehen Sie nachts nicht "
                   "allein. Anlaufstelle: {station}. Hotline: {hotline}."),
            "pt": ("Início do ano letivo: estude em segurança",
                   "Bem-vindo! Inscreva-se cedo na escola e junto das autoridades locais, guarde bem o "
                   "passaporte e a autorização de residência, assine um contrato de arrendamento, "
                   "desconfie de chamadas de falsos funcionários e à noite saia acompanhado. Ponto de "
                   "apoio: {station}. Linha 24 h: {hotline}."),
            "ru": ("Начало учёбы за рубежом: памятка",
                   "Добро пожаловать! Скорее зарегистрируйтесь в университете и у местных властей, "
                   "берегите паспорт и вид на жительство, снимайте жильё только по договору, не верьте "
                   "звонкам лже-сотрудников посольства и полиции, вечером ходите не одни. Пункт помощи: "
                   "{station}. Горячая линия: {hotline}."),
            "ja": ("新学期の安全ガイド",
                   "ようこそ！早めに学校と現地当局で登録を済ませ、パスポートと在留書類を大切に保管し、"
                   "住まいは正式な契約で借りてください。大使館や警察をかたる詐欺電話に注意し、夜は複数で"
                   "行動を。現地窓口：{station}、ホットライン：{hotline}"),
            "ko": ("새 학기 안전 수칙",
                   "환영합니다! 학교와 현지 당국에 빨리 등록하고, 여권과 체류 서류를 잘 보관하며, 집은 정식 "
                   "계약으로 구하십시오. 대사관·경찰 사칭 전화를 조심하고 밤에는 함께 다니십시오. 현지 창구: "
                   "{station}, 핫라인: {hotline}"),
            "ar": ("بداية العام الدراسي: نصائح للسلامة",
                   "أهلاً بكم! سجّلوا سريعاً في الجامعة ولدى السلطات المحلية، واحفظوا جواز السفر ووثائق "
                   "الإقامة، ووقّعوا عقد إيجار رسمياً، واحذروا مكالمات منتحلي صفة السفارة أو الشرطة، ولا "
                   "تخرجوا وحدكم ليلاً. نقطة المساعدة: {station}. الخط الساخن: {hotline}."),
        }),
)


def load_demo_templates() -> int:
    """Add the library to an empty template table (idempotent); returns how many were added."""
    import sqlalchemy as sa

    from alerts.authoring import library
    from alerts.authoring.models import AlertTemplate
    from consular.db import db

    if db.session.scalar(sa.select(sa.func.count()).select_from(AlertTemplate)):
        return 0
    for t in TEMPLATES:
        library.create_template(
            {"name": t.name, "hazard": t.hazard, "category": t.category, "event": t.event,
             "urgency": t.urgency, "severity": t.severity, "certainty": t.certainty,
             "base_language": "zh_Hans", "safety_check": t.safety_check, "active": True},
            {lang: {"headline": h, "body": b, "instruction": "", "event": ""}
             for lang, (h, b) in t.texts.items()},
            user=None, system=True)
    return len(TEMPLATES)
